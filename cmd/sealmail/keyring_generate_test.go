package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/peers"
)

const generatePassphrase = "correct horse battery staple"

// generateWithCLI runs "keyring generate" with args in home, the passphrase
// coming from a file, and returns the fingerprint it printed.
func generateWithCLI(t *testing.T, home string, args ...string) string {
	t.Helper()
	passphraseFile := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(passphraseFile, []byte(generatePassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"keyring", "generate", "--passphrase-file", passphraseFile}, args...)
	status, stdout, stderr := runCLI(t, home, "", full...)
	if status != 0 {
		t.Fatalf("keyring generate: exit status %d: %s", status, stderr)
	}
	if strings.Contains(stdout+stderr, generatePassphrase) {
		t.Error("keyring generate printed the passphrase")
	}
	match := regexp.MustCompile(`generated secret key ([0-9A-F]{40}|[0-9A-F]{64}) `).FindStringSubmatch(stdout)
	if match == nil {
		t.Fatalf("keyring generate printed no fingerprint:\n%s", stdout)
	}
	return match[1]
}

// gpgPacketLines returns the lines of "gpg --list-packets" that name a
// packet, such as ":public key packet:".
func gpgPacketLines(t *testing.T, g *gpgtest.GPG, data []byte) []string {
	t.Helper()
	stdout, stderr, err := g.Run(t, data, "--list-packets")
	if err != nil {
		t.Fatalf("gpg --list-packets failed: %v\n%s", err, stderr)
	}
	var packets []string
	for _, line := range strings.Split(string(stdout), "\n") {
		// A packet line reads ":user ID packet: "Alice <...>"".
		if end := strings.Index(line[min(1, len(line)):], ":"); strings.HasPrefix(line, ":") && end >= 0 {
			packets = append(packets, line[:end+2])
		}
	}
	return packets
}

// TestGeneratedKeyWorksWithGPG generates keys with the CLI and checks them
// with gpg. The stored secret key is protected, and the minimal export has
// exactly the expected packets and can be encrypted to. gpg verifies a
// message that sealmail signs with the key.
func TestGeneratedKeyWorksWithGPG(t *testing.T) {
	for _, algorithm := range []string{"ed25519", "rsa3072"} {
		t.Run(algorithm, func(t *testing.T) {
			home := t.TempDir()
			fpr := generateWithCLI(t, home, "--name", "Alice Example", "--algorithm", algorithm, "alice@example.org")
			secretDir := filepath.Join(home, "keyring", "secret")
			secretFile := filepath.Join(secretDir, strings.ToLower(fpr))
			checkFileMode(t, secretDir, 0o700)
			checkFileMode(t, secretFile, 0o600)

			g := gpgtest.New(t)
			secret, err := os.ReadFile(secretFile)
			if err != nil {
				t.Fatal(err)
			}
			listing, stderr, err := g.Run(t, secret, "--list-packets")
			if err != nil {
				t.Fatalf("gpg --list-packets of the secret key failed: %v\n%s", err, stderr)
			}
			if got := strings.Count(string(listing), "iter+salt S2K, algo: 9, SHA1 protection, hash: 8"); got != 2 {
				t.Errorf("gpg shows %d keys protected with iterated and salted SHA-256 and AES-256, want 2:\n%s", got, listing)
			}
			if got := strings.Count(string(listing), "protect count: 65011712"); got != 2 {
				t.Errorf("gpg shows %d keys with the maximum S2K count, want 2:\n%s", got, listing)
			}
			if got := strings.Count(string(listing), "[v4 protected]"); got != 2 {
				t.Errorf("gpg shows %d keys with protected secret key material, want 2:\n%s", got, listing)
			}

			status, minimal, stderrText := runCLI(t, home, "", "keyring", "export", "--minimal", "alice@example.org")
			if status != 0 {
				t.Fatalf("keyring export --minimal: %s", stderrText)
			}
			want := []string{":public key packet:", ":user ID packet:", ":signature packet:", ":public sub key packet:", ":signature packet:"}
			if got := gpgPacketLines(t, g, []byte(minimal)); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("gpg lists the packets %q, want %q", got, want)
			}
			g.Import(t, []byte(minimal))
			encrypted, stderr, err := g.Run(t, []byte("hello"), "--encrypt", "--armor", "--recipient", "alice@example.org")
			if err != nil || !strings.Contains(string(encrypted), "BEGIN PGP MESSAGE") {
				t.Fatalf("gpg cannot encrypt to the minimal export: %v\n%s", err, stderr)
			}

			body := filepath.Join(t.TempDir(), "body.txt")
			if err := os.WriteFile(body, []byte(interopText), 0o600); err != nil {
				t.Fatal(err)
			}
			passphraseFile := filepath.Join(t.TempDir(), "passphrase")
			if err := os.WriteFile(passphraseFile, []byte(generatePassphrase), 0o600); err != nil {
				t.Fatal(err)
			}
			status, raw, stderrText := runCLI(t, home, "", "compose", "--sign", "--passphrase-file", passphraseFile,
				"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Signed", "--text", body)
			if status != 0 {
				t.Fatalf("compose --sign: exit status %d: %s", status, stderrText)
			}
			gpgVerifySigned(t, g, []byte(raw))
		})
	}
}

// TestGeneratedV6KeyWorksWithOpenPGPJS checks a v6 key, which GnuPG 2.2
// cannot read, with OpenPGP.js: it reads the minimal export, encrypts to it
// and decrypts with the stored secret key, unlocked with the passphrase.
func TestGeneratedV6KeyWorksWithOpenPGPJS(t *testing.T) {
	node := peers.Require(t, "node")
	module := peers.NodeModule(t, "openpgp")

	home := t.TempDir()
	fpr := generateWithCLI(t, home, "--v6", "six@example.org")
	if len(fpr) != 64 {
		t.Fatalf("fingerprint %s has %d hex digits, want the 64 of a v6 key", fpr, len(fpr))
	}
	status, minimal, stderr := runCLI(t, home, "", "keyring", "export", "--minimal", "six@example.org")
	if status != 0 {
		t.Fatalf("keyring export --minimal: %s", stderr)
	}
	dir := t.TempDir()
	certFile, passphraseFile := filepath.Join(dir, "cert.asc"), filepath.Join(dir, "passphrase")
	if err := os.WriteFile(certFile, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passphraseFile, []byte(generatePassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(node, filepath.Join("testdata", "openpgpjs-v6-key.mjs"), module,
		certFile, filepath.Join(home, "keyring", "secret", strings.ToLower(fpr)), passphraseFile)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("OpenPGP.js failed on the v6 key: %v\n%s", err, errOut.String())
	}
	var result struct {
		Version int    `json:"version"`
		Data    string `json:"data"`
	}
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("failed to parse the output of OpenPGP.js %q: %v", out, err)
	}
	if result.Version != 6 {
		t.Errorf("OpenPGP.js reads key version %d, want 6", result.Version)
	}
	if result.Data != "v6 round trip" {
		t.Errorf("OpenPGP.js decrypted %q, want %q", result.Data, "v6 round trip")
	}
}

func checkFileMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o, want %#o", path, got, want)
	}
}
