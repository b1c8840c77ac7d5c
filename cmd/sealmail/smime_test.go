package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/sealmail/sealmail/internal/peers"
)

// smimePerson is a test identity with a certificate from the test CA.
type smimePerson struct {
	address  string
	certFile string // PEM certificate
	keyFile  string // PEM private key, for openssl -inkey
}

// smimeSetup makes a CA, an identity for Alice in a PKCS#12 bundle with a
// password, and certificates for Bob and Carol with keys made by newKey; it
// imports them into a new home and returns the home and the folder with the
// files.
func smimeSetup(t *testing.T, newKey func() (crypto.Signer, error)) (home, files string, people map[string]*smimePerson) {
	t.Helper()
	home, files = t.TempDir(), t.TempDir()
	now := time.Now()
	ca, err := newDemoCA(now)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(files, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("ca.pem", pemCertificates(ca.root))
	write("pass.txt", []byte("p12-secret\n"))
	write("body.txt", []byte(interopText))
	write("body.html", []byte(interopHTML))
	write("data.bin", interopAttachment)

	people = map[string]*smimePerson{}
	for _, name := range []string{"alice", "bob", "carol"} {
		key, err := newKey()
		if err != nil {
			t.Fatal(err)
		}
		address := name + "@example.org"
		cert, err := ca.issue("Test "+name, address, key.Public(), now)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := pemPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		p := &smimePerson{
			address:  address,
			certFile: write(name+".pem", pemCertificates(cert)),
			keyFile:  write(name+".key", keyPEM),
		}
		people[name] = p
		if name == "alice" {
			bundle, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca.intermediate}, "p12-secret")
			if err != nil {
				t.Fatal(err)
			}
			write("alice.p12", bundle)
		}
	}

	mustRun := func(args ...string) {
		t.Helper()
		if status, _, stderr := runCLI(t, home, "", args...); status != 0 {
			t.Fatalf("%s: exit status %d: %s", strings.Join(args, " "), status, stderr)
		}
	}
	mustRun("keyring", "trust", filepath.Join(files, "ca.pem"))
	mustRun("keyring", "import", "--passphrase-file", filepath.Join(files, "pass.txt"),
		filepath.Join(files, "alice.p12"), people["bob"].certFile, people["carol"].certFile)
	return home, files, people
}

// opensslOpen decrypts raw with openssl cms when it is encrypted, verifies
// the signature when there is one, and returns the innermost entity.
func opensslOpen(t *testing.T, openssl, files string, raw []byte, p *smimePerson, encrypted, signed bool) []byte {
	t.Helper()
	entity := raw
	if encrypted {
		entity = runOpenSSL(t, openssl, entity, "cms", "-decrypt", "-recip", p.certFile, "-inkey", p.keyFile)
	}
	if signed {
		entity = runOpenSSL(t, openssl, entity, "cms", "-verify", "-CAfile", filepath.Join(files, "ca.pem"), "-purpose", "smimesign")
	}
	return entity
}

func runOpenSSL(t *testing.T, openssl string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// TestSMIMEOpensInOpenSSL sends S/MIME messages in every mode to the outbox
// for RSA and EC certificates and has openssl decrypt and verify each copy.
func TestSMIMEOpensInOpenSSL(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	keyTypes := []struct {
		name   string
		newKey func() (crypto.Signer, error)
	}{
		{"rsa2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
		{"p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"p384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
	}
	modes := []struct {
		name              string
		args              []string
		encrypted, signed bool
	}{
		{"sign", []string{"--sign"}, false, true},
		{"sign-opaque", []string{"--sign", "--smime-opaque"}, false, true},
		{"sign-legacy", []string{"--sign", "--smime-legacy-types"}, false, true},
		{"encrypt", []string{"--encrypt"}, true, false},
		{"sign+encrypt", nil, true, true},
		{"sign+encrypt-gcm", []string{"--smime-cipher", "aes256-gcm"}, true, true},
		{"sign+encrypt-aes128", []string{"--smime-cipher", "aes128-cbc"}, true, true},
	}
	for _, kt := range keyTypes {
		t.Run(kt.name, func(t *testing.T) {
			home, files, people := smimeSetup(t, kt.newKey)
			for _, mode := range modes {
				t.Run(mode.name, func(t *testing.T) {
					args := append([]string{"compose", "--smime", "--passphrase-file", filepath.Join(files, "pass.txt"),
						"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Interop",
						"--text", filepath.Join(files, "body.txt"), "--attach", filepath.Join(files, "data.bin")}, mode.args...)
					status, raw, stderr := runCLI(t, home, "", args...)
					if status != 0 {
						t.Fatalf("compose: exit status %d: %s", status, stderr)
					}
					checkSMIMEHeader(t, raw, mode.encrypted, mode.args)
					entity := opensslOpen(t, openssl, files, []byte(raw), people["bob"], mode.encrypted, mode.signed)
					checkInteropParts(t, entity, "attachment")
				})
			}
			if kt.name == "rsa2048" {
				t.Run("encrypt-oaep", func(t *testing.T) {
					status, raw, stderr := runCLI(t, home, "", "compose", "--smime", "--encrypt", "--smime-key-transport", "oaep",
						"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Interop",
						"--text", filepath.Join(files, "body.txt"))
					if status != 0 {
						t.Fatalf("compose: exit status %d: %s", status, stderr)
					}
					entity := opensslOpen(t, openssl, files, []byte(raw), people["bob"], true, false)
					checkInteropParts(t, entity, "text")
				})
			}
		})
	}
}

// checkSMIMEHeader checks the media types of the outer entity.
func checkSMIMEHeader(t *testing.T, raw string, encrypted bool, args []string) {
	t.Helper()
	header, _, _ := strings.Cut(raw, "\r\n\r\n")
	header = strings.ReplaceAll(header, "\r\n ", " ")
	header = strings.ReplaceAll(header, "\r\n\t", " ")
	legacy := strings.Contains(strings.Join(args, " "), "legacy")
	opaque := strings.Contains(strings.Join(args, " "), "opaque")
	prefix := "application/pkcs7-"
	if legacy {
		prefix = "application/x-pkcs7-"
	}
	var want *regexp.Regexp
	switch {
	case encrypted:
		want = regexp.MustCompile(`Content-Type: ` + regexp.QuoteMeta(prefix) + `mime;.*smime-type="?(enveloped|authEnveloped)-data"?.*name="?smime\.p7m"?`)
	case opaque:
		want = regexp.MustCompile(`Content-Type: ` + regexp.QuoteMeta(prefix) + `mime;.*smime-type="?signed-data"?`)
	default:
		want = regexp.MustCompile(`Content-Type: multipart/signed;.*protocol="` + regexp.QuoteMeta(prefix) + `signature"`)
	}
	if !want.MatchString(header) {
		t.Errorf("outer header does not match %s:\n%s", want, header)
	}
	if regexp.MustCompile(`(?im)^bcc:`).MatchString(header) {
		t.Error("outer header has a Bcc field")
	}
}

// TestSMIMERefusesBadCertificates checks that recipients whose certificate
// fails validation are each named, and that nothing reaches the outbox.
func TestSMIMERefusesBadCertificates(t *testing.T) {
	newKey := func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }
	home, files, _ := smimeSetup(t, newKey)
	now := time.Now()

	// An expired certificate from the trusted CA would need its key; a
	// second CA the home does not trust issues the untrusted one.
	other, err := newDemoCA(now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := other.issue("Dave", "dave@example.org", key.Public(), now)
	if err != nil {
		t.Fatal(err)
	}
	untrustedFile := filepath.Join(files, "dave.pem")
	if err := os.WriteFile(untrustedFile, pemCertificates(untrusted, other.intermediate), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", untrustedFile); status != 0 {
		t.Fatalf("keyring import: %s", stderr)
	}

	status, stdout, stderr := runCLI(t, home, "", "send", "--smime", "--passphrase-file", filepath.Join(files, "pass.txt"),
		"--from", "alice@example.org", "--to", "bob@example.org,dave@example.org", "--cc", "nobody@example.org",
		"--subject", "Hi", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	for _, want := range []string{"dave@example.org", "does not chain to a trusted CA", "nobody@example.org"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "bob@example.org") {
		t.Errorf("stderr names bob@example.org, whose certificate is fine:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "outbox", "new")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(home, "outbox", "new"))
		if len(entries) > 0 {
			t.Errorf("the outbox holds %d messages, want none", len(entries))
		}
	}

	// Signing as an address the sender's certificate does not hold is
	// refused too.
	status, _, stderr = runCLI(t, home, "", "send", "--smime", "--sign", "--passphrase-file", filepath.Join(files, "pass.txt"),
		"--from", "bob@example.org", "--to", "alice@example.org", "--subject", "Hi", "--text", filepath.Join(files, "body.txt"))
	if status != 1 || !strings.Contains(stderr, "bob@example.org") {
		t.Errorf("send as bob: exit status %d, want 1 with an error naming bob@example.org:\n%s", status, stderr)
	}
}

func TestSchemeMismatchHint(t *testing.T) {
	home, files, _ := smimeSetup(t, func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })

	// Without --smime the default is OpenPGP, and Alice has only an S/MIME
	// identity.
	status, _, stderr := runCLI(t, home, "", "send", "--passphrase-file", filepath.Join(files, "pass.txt"),
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Hi", "--text", filepath.Join(files, "body.txt"))
	if status != 1 || !strings.Contains(stderr, "send with --smime") {
		t.Errorf("send without --smime: exit status %d, want 1 with a hint to use --smime:\n%s", status, stderr)
	}

	// Encrypting to Bob without a signature still finds only his
	// certificate.
	status, _, stderr = runCLI(t, home, "", "send", "--encrypt", "--no-encrypt-to-self",
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Hi", "--text", filepath.Join(files, "body.txt"))
	if status != 1 || !strings.Contains(stderr, "the keyring has an X.509 certificate for bob@example.org: send with --smime") {
		t.Errorf("send --encrypt without --smime: exit status %d, want 1 with a hint naming bob@example.org:\n%s", status, stderr)
	}
}
