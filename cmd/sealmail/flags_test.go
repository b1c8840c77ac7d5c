package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsInterspersed(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantSubject string
		wantJSON    bool
		wantArgs    []string
	}{
		{"flag after argument", []string{"a", "--json"}, "", true, []string{"a"}},
		{"flags around arguments", []string{"--subject", "s", "a", "--json", "b"}, "s", true, []string{"a", "b"}},
		{"double dash ends flags", []string{"a", "--", "--json", "-x"}, "", false, []string{"a", "--json", "-x"}},
		{"double dash first", []string{"--", "-x"}, "", false, []string{"-x"}},
		{"double dash as a value", []string{"--subject", "--", "a", "--json"}, "--", true, []string{"a"}},
		{"double dash after a bool flag", []string{"--json", "--", "--subject"}, "", true, []string{"--subject"}},
		{"standard input", []string{"-", "--json"}, "", true, []string{"-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{stdout: io.Discard, stderr: io.Discard}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			subject := fs.String("subject", "", "")
			asJSON := fs.Bool("json", false, "")
			if err := a.parseFlags(fs, tt.args); err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if *subject != tt.wantSubject {
				t.Errorf("subject = %q, want %q", *subject, tt.wantSubject)
			}
			if *asJSON != tt.wantJSON {
				t.Errorf("json = %v, want %v", *asJSON, tt.wantJSON)
			}
			if !slices.Equal(fs.Args(), tt.wantArgs) {
				t.Errorf("Args = %q, want %q", fs.Args(), tt.wantArgs)
			}
		})
	}
}

func TestParseFlagsRejectsFlagAsValue(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"flag as value", []string{"--subject", "--json", "a"}, true},
		{"single dash flag as value", []string{"-subject", "-json"}, true},
		{"flag with value as value", []string{"--subject", "--subject=x"}, true},
		{"explicit value", []string{"--subject=--json", "a"}, false},
		{"dash value", []string{"--subject", "-", "a"}, false},
		{"double dash value", []string{"--subject", "--", "a"}, false},
		{"unknown flag name as value", []string{"--subject", "--hello"}, false},
		{"after double dash", []string{"--", "--subject", "--json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{stdout: io.Discard, stderr: io.Discard}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.String("subject", "", "")
			fs.Bool("json", false, "")
			err := a.parseFlags(fs, tt.args)
			if (err != nil) != tt.wantErr {
				t.Errorf("parseFlags(%q) = %v, want an error: %v", tt.args, err, tt.wantErr)
			}
			if err != nil && !isUsageError(err) {
				t.Errorf("parseFlags(%q) = %v, not a usage error", tt.args, err)
			}
		})
	}
}

func TestFlagErrorsUseDoubleDash(t *testing.T) {
	for _, args := range [][]string{{"--status"}, {"-x"}, {"--rate", "fast"}} {
		a := &app{stdout: io.Discard, stderr: io.Discard}
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("status", "", "")
		fs.Int("rate", 0, "")
		err := a.parseFlags(fs, args)
		if err == nil {
			t.Fatalf("parseFlags(%q) = nil, want an error", args)
		}
		if msg := err.Error(); !strings.Contains(msg, "--") || strings.Contains(msg, " -"+strings.TrimLeft(args[0], "-")) {
			t.Errorf("parseFlags(%q) = %q, want the flag written with two dashes", args, msg)
		}
	}
}
