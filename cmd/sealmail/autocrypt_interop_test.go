package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/keyring"
)

// TestAutocryptKeyFromGPG imports the key that a GnuPG user sends in an
// Autocrypt header, as gpg exports it for one, and checks that gpg decrypts
// what sealmail then encrypts to that key.
func TestAutocryptKeyFromGPG(t *testing.T) {
	g := gpgtest.New(t)
	const uid = "Bob <bob@example.org>"
	if _, stderr, err := g.Run(t, nil, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign,cert", "never"); err != nil {
		t.Fatalf("gpg --quick-gen-key: %v\n%s", err, stderr)
	}
	if _, stderr, err := g.Run(t, nil, "--passphrase", "", "--quick-add-key", gpgFingerprint(t, g, uid), "cv25519", "encr", "never"); err != nil {
		t.Fatalf("gpg --quick-add-key: %v\n%s", err, stderr)
	}
	// Autocrypt Level 1 sends the minimal binary key, base64 in the header.
	exported, stderr, err := g.Run(t, nil, "--export", "--export-options", "export-minimal", "bob@example.org")
	if err != nil || len(exported) == 0 {
		t.Fatalf("gpg --export: %v\n%s", err, stderr)
	}

	home, files := t.TempDir(), t.TempDir()
	alice := generatePerson(t, "alice@example.org", keyring.GenerateOptions{})
	inputs := map[string][]byte{
		"bob.eml":   autocryptMail(uid, "bob@example.org", exported),
		"alice.sec": alice.secret,
		"body.txt":  []byte(interopText),
	}
	for name, data := range inputs {
		if err := os.WriteFile(filepath.Join(files, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	status, stdout, stderrText := runCLI(t, home, "", "keyring", "import", filepath.Join(files, "bob.eml"), filepath.Join(files, "alice.sec"))
	if status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderrText)
	}
	if !strings.Contains(stdout, "(from the Autocrypt header of bob@example.org)") {
		t.Errorf("keyring import printed no Autocrypt origin:\n%s", stdout)
	}

	status, raw, stderrText := runCLI(t, home, "", "compose", "--encrypt", "--from", "alice@example.org", "--to", "bob@example.org",
		"--subject", "Autocrypt", "--text", filepath.Join(files, "body.txt"))
	if status != 0 {
		t.Fatalf("compose: exit status %d: %s", status, stderrText)
	}
	entity := gpgDecrypt(t, g, []byte(raw), false)
	checkInteropParts(t, entity, "text")
}

// gpgFingerprint returns the fingerprint of the key that gpg has for uid.
func gpgFingerprint(t *testing.T, g *gpgtest.GPG, uid string) string {
	t.Helper()
	listing, stderr, err := g.Run(t, nil, "--with-colons", "--list-keys", uid)
	if err != nil {
		t.Fatalf("gpg --list-keys: %v\n%s", err, stderr)
	}
	for _, line := range strings.Split(string(listing), "\n") {
		if fields := strings.Split(line, ":"); fields[0] == "fpr" && len(fields) > 9 {
			return fields[9]
		}
	}
	t.Fatalf("gpg lists no fingerprint for %q:\n%s", uid, listing)
	return ""
}

// autocryptMail returns a message from from whose Autocrypt header field
// carries the binary key for addr, folded into lines of 76 characters.
func autocryptMail(from, addr string, key []byte) []byte {
	encoded := base64.StdEncoding.EncodeToString(key)
	var lines []string
	for len(encoded) > 76 {
		lines = append(lines, encoded[:76])
		encoded = encoded[76:]
	}
	lines = append(lines, encoded)
	return []byte("From: " + from + "\r\nTo: alice@example.org\r\nSubject: Hello\r\n" +
		"Autocrypt: addr=" + addr + "; keydata=\r\n " + strings.Join(lines, "\r\n ") + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello, Alice.\r\n")
}
