package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordedFlagsRoundTrip(t *testing.T) {
	var sf sendFlags
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	sf.register(fs)
	args := []string{"--via", "ses", "--region", "eu-west-1", "--profile", "mail", "--configuration-set", "signed",
		"--tag", "team=ops", "--tag", "kind=report", "--no-sent-copy"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}

	options := recordedFlags(&sf)
	if len(options["tag"]) != 2 || options["via"][0] != "ses" || options["no-sent-copy"][0] != "true" {
		t.Errorf("recorded options = %v, want via, both tags and no-sent-copy", options)
	}
	if _, ok := options["endpoint-url"]; ok {
		t.Errorf("recorded options = %v, want no endpoint-url, which was not given", options)
	}
	got, err := parseRecordedFlags(options)
	if err != nil {
		t.Fatal(err)
	}
	if got.way() != "ses" || got.region.value != "eu-west-1" || got.profile.value != "mail" ||
		got.configurationSet.value != "signed" || !got.noSentCopy {
		t.Errorf("parsed flags = %+v, want those given to send", got)
	}
	if strings.Join(got.tags, " ") != "kind=report team=ops" && strings.Join(got.tags, " ") != "team=ops kind=report" {
		t.Errorf("parsed tags = %v, want team=ops and kind=report", got.tags)
	}
}

func TestRecordedFlagsKeepsSendFlags(t *testing.T) {
	var sf sendFlags
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	sf.register(fs)
	if err := fs.Parse([]string{"--via", "ses", "--no-sent-copy"}); err != nil {
		t.Fatal(err)
	}

	recordedFlags(&sf)
	if !sf.noSentCopy || sf.way() != "ses" {
		t.Errorf("after recordedFlags, send flags = %+v, want them unchanged", sf)
	}
}

func TestRecordedFlagsMakesFilesAbsolute(t *testing.T) {
	var sf sendFlags
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	sf.register(fs)
	args := []string{"--via", "smtp", "--smtp-host", "127.0.0.1", "--smtp-password-file", "password.txt"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}

	options := recordedFlags(&sf)
	if got := options["smtp-host"]; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("recorded smtp-host = %v, want 127.0.0.1", got)
	}
	got := options["smtp-password-file"]
	if len(got) != 1 || !filepath.IsAbs(got[0]) || filepath.Base(got[0]) != "password.txt" {
		t.Errorf("recorded smtp-password-file = %v, want the absolute path of password.txt", got)
	}
}

func TestApplyOverrides(t *testing.T) {
	recorded := map[string][]string{"via": {"smtp"}, "smtp-host": {"mail.example.org"}, "smtp-port": {"587"}}
	overrides := map[string][]string{"smtp-port": {"2587"}, "smtp-ca-file": {"/etc/ca.pem"}, "profile": {"mail"}, "rate": {"5"}}

	got := applyOverrides("smtp", recorded, overrides)
	want := map[string][]string{"via": {"smtp"}, "smtp-host": {"mail.example.org"}, "smtp-port": {"2587"}, "smtp-ca-file": {"/etc/ca.pem"}, "rate": {"5"}}
	if len(got) != len(want) {
		t.Errorf("options = %v, want %v", got, want)
	}
	for name, values := range want {
		if strings.Join(got[name], " ") != strings.Join(values, " ") {
			t.Errorf("option %s = %v, want %v", name, got[name], values)
		}
	}
	if recorded["smtp-port"][0] != "587" {
		t.Errorf("the recorded options changed: %v", recorded)
	}
}

func TestOverridesParsed(t *testing.T) {
	var overrides transportOverrides
	fs := flag.NewFlagSet("queue flush", flag.ContinueOnError)
	overrides.register(fs)
	if err := fs.Parse([]string{"--smtp-port", "2587", "--smtp-ca-file", "ca.pem"}); err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("tag") != nil || fs.Lookup("via") != nil {
		t.Error("queue flush takes --tag or --via, which describe the message and stay as recorded")
	}

	options := overrides.options()
	if len(options) != 2 || options["smtp-port"][0] != "2587" || !filepath.IsAbs(options["smtp-ca-file"][0]) {
		t.Errorf("options = %v, want smtp-port 2587 and the absolute path of ca.pem", options)
	}
}
