package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, configFileName)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadConfigMissingIsEmpty(t *testing.T) {
	c, err := loadConfig(t.TempDir())
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if *c != (config{}) {
		t.Errorf("config = %+v, want the zero value", *c)
	}
}

func TestLoadConfigAllSettings(t *testing.T) {
	dir := writeConfig(t, `
from = "Alice <alice@example.org>"
scheme = "smime"
policy = "encrypt-if-possible"
via = "smtp"

[ses]
region = "eu-west-1"
profile = "mail"
endpoint_url = "http://127.0.0.1:8005"
configuration_set = "signed"

[smtp]
host = "email-smtp.eu-west-1.amazonaws.com"
port = 587
tls = "starttls"
user = "AKIAEXAMPLE"
password_file = "/home/alice/.ses-smtp"
`, 0o600)
	c, err := loadConfig(dir)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := config{
		From: "Alice <alice@example.org>", Scheme: "smime", Policy: "encrypt-if-possible", Via: "smtp",
		SES: sesConfig{Region: "eu-west-1", Profile: "mail", EndpointURL: "http://127.0.0.1:8005", ConfigurationSet: "signed"},
		SMTP: smtpConfig{Host: "email-smtp.eu-west-1.amazonaws.com", Port: 587, TLS: "starttls", User: "AKIAEXAMPLE",
			PasswordFile: "/home/alice/.ses-smtp"},
	}
	if *c != want {
		t.Errorf("config = %+v\nwant %+v", *c, want)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	tests := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"unknown setting", "form = \"a@example.org\"\n", 0o600, "unknown setting form"},
		{"unknown table key", "[smtp]\npassword = \"secret\"\n", 0o600, "unknown setting smtp.password"},
		{"scheme", "scheme = \"gpg\"\n", 0o600, `scheme = "gpg": use one of pgp, smime`},
		{"policy", "policy = \"maybe\"\n", 0o600, "use one of require-encryption, encrypt-if-possible"},
		{"via", "via = \"smtps\"\n", 0o600, "use one of outbox, ses, smtp"},
		{"tls mode", "[smtp]\ntls = \"ssl\"\n", 0o600, "use one of starttls, implicit"},
		{"port", "[smtp]\nport = 70000\n", 0o600, "smtp.port = 70000"},
		{"line break", "from = \"a@example.org\\nBcc: x@example.org\"\n", 0o600, "from contains a line break"},
		{"from without angle brackets", "from = \"Alice alice@example.org\"\n", 0o600, `from = "Alice alice@example.org" is not a valid address`},
		{"from without domain", "from = \"alice\"\n", 0o600, `from = "alice" is not a valid address`},
		{"two senders", "from = \"a@example.org, b@example.org\"\n", 0o600, `contains 2 addresses: write exactly one`},
		{"relative password file", "[smtp]\npassword_file = \"ses-smtp\"\n", 0o600, `smtp.password_file = "ses-smtp": use an absolute path`},
		{"syntax", "from = \n", 0o600, "failed to read the configuration"},
		{"writable by others", "via = \"ses\"\n", 0o666, "writable by other users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tt.content, tt.mode))
			if err == nil {
				t.Fatal("loadConfig succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), configFileName) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
