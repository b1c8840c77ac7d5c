package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/mailpit"
	"github.com/sealmail/sealmail/internal/tlstest"
	"github.com/sealmail/sealmail/transport/maildir"
)

const (
	smtpTestUser     = "AKIAEXAMPLE"
	smtpTestPassword = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"
)

func TestSMTPPasswordCommand(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	status, stdout, stderr := runCLI(t, t.TempDir(), "some+secret+key\n", "smtp-password", "--region", "eu-central-1")
	if status != 0 {
		t.Fatalf("exit status %d: %s", status, stderr)
	}
	if want := "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestSMTPPasswordFromEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "another+secret+key")
	status, stdout, stderr := runCLI(t, t.TempDir(), "", "smtp-password", "--region", "us-west-1")
	if status != 0 {
		t.Fatalf("exit status %d: %s", status, stderr)
	}
	if want := "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestSMTPPasswordErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  int
		in    string
	}{
		{"missing region", "some+secret+key\n", nil, 2, "missing --region"},
		{"invalid region", "some+secret+key\n", []string{"--region", "Frankfurt"}, 2, "invalid AWS region"},
		{"secret as argument", "", []string{"--region", "eu-central-1", "some+secret+key"}, 2, "never on the command line"},
		{"empty input", "", []string{"--region", "eu-central-1"}, 1, "missing secret access key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
			args := append([]string{"smtp-password"}, tt.args...)
			status, stdout, stderr := runCLI(t, t.TempDir(), tt.stdin, args...)
			if status != tt.want {
				t.Errorf("exit status %d, want %d; stderr: %s", status, tt.want, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.in) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.in)
			}
			if strings.Contains(stderr, "some+secret+key") {
				t.Errorf("stderr %q contains the secret", stderr)
			}
		})
	}
}

func TestSendSMTPUsageErrors(t *testing.T) {
	message := []string{"--from", "a@example.org", "--to", "b@example.org", "--text", "-"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no host or region", []string{"--via", "smtp"}, "needs --smtp-host"},
		{"SMTP flag without smtp", []string{"--via", "ses", "--region", "eu-west-1", "--smtp-host", "mail.example.org"}, "need --via smtp"},
		{"SES flag with smtp", []string{"--via", "smtp", "--smtp-host", "mail.example.org", "--tag", "a=b"}, "need --via ses"},
		{"port without mode", []string{"--via", "smtp", "--smtp-host", "mail.example.org", "--smtp-port", "2525"}, "missing TLS mode"},
		{"unknown TLS mode", []string{"--via", "smtp", "--smtp-host", "mail.example.org", "--smtp-tls", "ssl"}, "invalid --smtp-tls"},
		{"plain SMTP to a remote host", []string{"--via", "smtp", "--smtp-host", "mail.example.org", "--smtp-port", "2525", "--smtp-tls", "none"}, "only to a loopback address"},
		{"user without password", []string{"--via", "smtp", "--region", "eu-central-1", "--smtp-user", "AKIAEXAMPLE"}, "missing SMTP password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SEALMAIL_SMTP_PASSWORD", "")
			os.Unsetenv("SEALMAIL_SMTP_PASSWORD")
			args := append(append([]string{"send"}, message...), tt.args...)
			status, _, stderr := runCLI(t, t.TempDir(), "hello\n", args...)
			if status != 2 {
				t.Errorf("exit status %d, want 2; stderr: %s", status, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

// smtpSetup starts mailpit in mode with the test user, and writes the CA
// and password files that send needs.
func smtpSetup(t *testing.T, mode mailpit.TLS) (server *mailpit.Server, caFile, passwordFile string) {
	t.Helper()
	ca := tlstest.NewCA(t, "sealmail test CA")
	cert := ca.Issue(t, "127.0.0.1")
	server = mailpit.Start(t, mailpit.Options{
		TLS:     mode,
		CertPEM: cert.CertPEM,
		KeyPEM:  cert.KeyPEM,
		Users:   map[string]string{smtpTestUser: smtpTestPassword},
	})
	dir := t.TempDir()
	caFile, passwordFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "password")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwordFile, []byte(smtpTestPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return server, caFile, passwordFile
}

func TestSendSMTPMailpit(t *testing.T) {
	tests := []struct {
		name   string
		server mailpit.TLS
		mode   string
	}{
		{"starttls", mailpit.RequireSTARTTLS, "starttls"},
		{"implicit", mailpit.RequireImplicitTLS, "implicit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, caFile, passwordFile := smtpSetup(t, tt.server)
			home, files, alice, bob, _ := e2eSetup(t)

			status, stdout, stderr := runCLI(t, home, "", "send", "--via", "smtp",
				"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", tt.mode,
				"--smtp-user", smtpTestUser, "--smtp-password-file", passwordFile, "--smtp-ca-file", caFile,
				"--from", "Alice <alice@example.org>", "--to", "Bob <bob@example.org>", "--subject", "Figures",
				"--text", filepath.Join(files, "body.txt"), "--attach", filepath.Join(files, "figures.csv"))
			if status != 0 {
				t.Fatalf("send: exit status %d: %s", status, stderr)
			}
			id := regexp.MustCompile(`via smtp: message ID (\S+)`).FindStringSubmatch(stdout)
			if id == nil {
				t.Fatalf("send printed no message ID:\n%s", stdout)
			}

			// The sent copy is kept with mailpit's queue ID, and mailpit
			// stored exactly its bytes.
			sent, err := maildir.Open(filepath.Join(home, "sent"))
			if err != nil {
				t.Fatal(err)
			}
			paths, err := sent.Messages()
			if err != nil || len(paths) != 1 {
				t.Fatalf("sent Maildir holds %d messages (%v), want 1", len(paths), err)
			}
			rec, err := sent.ReadRecord(paths[0])
			if err != nil {
				t.Fatal(err)
			}
			if rec.MessageID != id[1] || rec.Via != "smtp" {
				t.Errorf("sent record = %+v, want message ID %q via smtp", rec, id[1])
			}
			kept, err := os.ReadFile(paths[0])
			if err != nil {
				t.Fatal(err)
			}
			stored := server.LatestRaw(t)
			if got := mailpit.StripTrace(t, stored, kept); !bytes.Equal(got, kept) {
				t.Errorf("mailpit stored\n%q\nwant the sent copy\n%q", stored, kept)
			}

			armored := regexp.MustCompile(`(?s)-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----`).Find(stored)
			if armored == nil {
				t.Fatalf("the stored message holds no PGP MESSAGE:\n%s", stored)
			}
			g := gpgtest.New(t)
			g.Import(t, bob.secret)
			g.Import(t, alice.public)
			gpgStatus, plain, gpgErr, err := g.Status(t, armored, "--decrypt")
			if err != nil {
				t.Fatalf("gpg --decrypt failed: %v\n%s", err, gpgErr)
			}
			if !gpgtest.HasStatus(gpgStatus, "GOODSIG") || !gpgtest.HasStatus(gpgStatus, "DECRYPTION_OKAY") {
				t.Errorf("gpg did not report a good signature and decryption:\n%s", strings.Join(gpgStatus, "\n"))
			}
			if !bytes.Contains(plain, []byte("the figures are attached.")) {
				t.Errorf("the decrypted entity lacks the text:\n%s", plain)
			}
		})
	}
}

func TestSendSMTPBccCopies(t *testing.T) {
	server, caFile, _ := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)
	t.Setenv("SEALMAIL_SMTP_PASSWORD", smtpTestPassword)

	status, stdout, stderr := runCLI(t, home, "", "send", "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-ca-file", caFile,
		"--from", "alice@example.org", "--to", "bob@example.org", "--bcc", "carol@example.org",
		"--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 0 {
		t.Fatalf("send: exit status %d: %s", status, stderr)
	}
	if n := strings.Count(stdout, "via smtp: message ID"); n != 2 {
		t.Errorf("send reported %d accepted copies, want 2:\n%s", n, stdout)
	}
	if n := server.Count(t); n != 2 {
		t.Errorf("mailpit holds %d messages, want 2 (the To copy and the Bcc copy)", n)
	}
}

func TestSendSMTPWrongPassword(t *testing.T) {
	server, caFile, _ := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)
	t.Setenv("SEALMAIL_SMTP_PASSWORD", "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj")

	status, _, stderr := runCLI(t, home, "", "send", "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-ca-file", caFile,
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Errorf("exit status %d, want 1; stderr: %s", status, stderr)
	}
	if !strings.Contains(stderr, "535") || !strings.Contains(stderr, "sealmail smtp-password") {
		t.Errorf("stderr %q lacks the 535 reply and the hint about sealmail smtp-password", stderr)
	}
	if strings.Contains(stderr, "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj") {
		t.Errorf("stderr contains the password: %s", stderr)
	}
	if n := server.Count(t); n != 0 {
		t.Errorf("mailpit holds %d messages, want 0", n)
	}
}

func TestSendSMTPUntrustedCertificate(t *testing.T) {
	server, _, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)

	status, _, stderr := runCLI(t, home, "", "send", "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-password-file", passwordFile,
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Errorf("exit status %d, want 1; stderr: %s", status, stderr)
	}
	if !strings.Contains(stderr, "sealmail: hint: if the server's certificate is issued by a private CA, trust that CA with --smtp-ca-file FILE, or ca_file in [smtp] of config.toml") {
		t.Errorf("stderr %q lacks the hint about --smtp-ca-file", stderr)
	}
	if n := server.Count(t); n != 0 {
		t.Errorf("mailpit holds %d messages, want 0", n)
	}
}
