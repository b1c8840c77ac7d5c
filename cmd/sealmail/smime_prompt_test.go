//go:build linux

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSMIMEPromptWrongPassword types a wrong password for the S/MIME
// identity three times at the terminal: the error names the terminal as
// the source, and which password is the right one.
func TestSMIMEPromptWrongPassword(t *testing.T) {
	home, files, _ := smimeSetup(t, func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	s := startOnTerminal(t, home, "compose", "--smime", "--sign", "--from", "alice@example.org", "--to", "bob@example.org",
		"--subject", "Hi", "--text", filepath.Join(files, "body.txt"))

	const prompt = "Passphrase for the key of alice@example.org: "
	for try := 1; try <= 3; try++ {
		// Each try writes the prompt again, so the terminal's output
		// shows it once per try.
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(s.text(), prompt) < try {
			if time.Now().After(deadline) {
				t.Fatalf("no prompt for try %d within 20s; output:\n%s", try, s.text())
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.typeText("not the password\n")
	}

	status, output, echo := s.finish()
	if status != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", status, output)
	}
	want := "wrong password for the S/MIME identity of alice@example.org (Test alice): the password was typed at the terminal 3 times; type the one its PKCS#12 bundle was imported with"
	if !strings.Contains(output, want) {
		t.Errorf("output lacks %q:\n%s", want, output)
	}
	if strings.Contains(output, "not the password") {
		t.Errorf("the password was echoed:\n%s", output)
	}
	if strings.Contains(output, "MIME-Version") {
		t.Errorf("a message was written:\n%s", output)
	}
	if !echo {
		t.Error("echo is off after the prompt")
	}
}
