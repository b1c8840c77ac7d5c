package keyring

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/gpgtest"
)

// gpgRunner runs gpg with a throwaway home.
type gpgRunner struct {
	path string
	home string
}

func newGPG(t *testing.T) *gpgRunner {
	t.Helper()
	gpg := gpgtest.New(t)
	return &gpgRunner{path: gpg.Path, home: gpg.Home}
}

// run runs gpg in batch mode with stdin and returns its standard output.
func (g *gpgRunner) run(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(g.path, append([]string{"--batch", "--homedir", g.home, "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// fingerprintOf returns the fingerprint of the only key gpg holds for uid.
func (g *gpgRunner) fingerprintOf(t *testing.T, uid string) string {
	t.Helper()
	out := g.run(t, nil, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(string(out), "\n") {
		if fields := strings.Split(line, ":"); fields[0] == "fpr" {
			return strings.ToLower(fields[9])
		}
	}
	t.Fatalf("gpg lists no fingerprint for %q:\n%s", uid, out)
	return ""
}

func TestImportGPGKeys(t *testing.T) {
	gpg := newGPG(t)
	tests := []struct {
		address, algorithm, encryptionAlgorithm string
	}{
		{"ed@example.org", "ed25519", "cv25519"},
		{"rsa@example.org", "rsa3072", "rsa3072"},
	}
	for _, tt := range tests {
		t.Run(tt.algorithm, func(t *testing.T) {
			uid := "GnuPG User <" + tt.address + ">"
			gpg.run(t, nil, "--quick-gen-key", uid, tt.algorithm, "sign,cert", "never")
			fpr := gpg.fingerprintOf(t, uid)
			gpg.run(t, nil, "--quick-add-key", fpr, tt.encryptionAlgorithm, "encr", "never")
			exported := gpg.run(t, nil, "--armor", "--export", fpr)

			k := openTemp(t)
			imported := importBytes(t, k, exported)
			if len(imported) != 1 || imported[0].Fingerprint != fpr {
				t.Fatalf("Import = %+v, want key %s", imported, fpr)
			}

			cert, err := k.EncryptionKey(context.Background(), tt.address, time.Now())
			if err != nil {
				t.Fatalf("EncryptionKey: %v", err)
			}
			key, ok := cert.EncryptionKey(time.Now(), nil)
			if !ok {
				t.Fatal("go-crypto finds no encryption key")
			}
			if got := algorithmName(key.PublicKey); got != tt.encryptionAlgorithm {
				t.Errorf("encryption subkey is %q, want %q", got, tt.encryptionAlgorithm)
			}

			entries, err := k.List(context.Background(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if entries[0].Algorithm != tt.algorithm || entries[0].Status != StatusValid {
				t.Errorf("List = %+v, want a valid %s key", entries[0], tt.algorithm)
			}
		})
	}
}

func TestGeneratedKeyImportsIntoGPG(t *testing.T) {
	gpg := newGPG(t)
	e := generate(t, "Quinn", "quinn@example.org", GenerateOptions{Lifetime: 365 * 24 * time.Hour})
	fpr := fingerprint(e)

	gpg.run(t, armored(t, openpgp.PublicKeyType, publicBytes(t, e)), "--import")
	listing := string(gpg.run(t, nil, "--with-colons", "--list-keys", "quinn@example.org"))
	if !strings.Contains(listing, strings.ToUpper(fpr)) {
		t.Fatalf("gpg --list-keys does not show %s:\n%s", fpr, listing)
	}
	// Field 12 of the pub line holds the usable capabilities of the whole key.
	for _, line := range strings.Split(listing, "\n") {
		fields := strings.Split(line, ":")
		if fields[0] == "pub" && !strings.Contains(fields[11], "E") {
			t.Errorf("gpg sees no usable encryption capability: %s", line)
		}
		if fields[0] == "pub" && fields[1] != "-" && fields[1] != "u" {
			t.Errorf("gpg reports validity %q for the key: %s", fields[1], line)
		}
	}

	// "features: 01" is SEIPDv1 alone; 03 would advertise SEIPDv2 as well.
	packets := string(gpg.run(t, publicBytes(t, e), "--list-packets"))
	if !strings.Contains(packets, "features: 01") {
		t.Errorf("self-signature features are not SEIPDv1 alone:\n%s", packets)
	}

	// gpg takes the secret key too, with its encryption subkey.
	var secret bytes.Buffer
	if err := e.SerializePrivate(&secret, nil); err != nil {
		t.Fatal(err)
	}
	gpg.run(t, armored(t, openpgp.PrivateKeyType, secret.Bytes()), "--import")
	secretListing := string(gpg.run(t, nil, "--with-colons", "--list-secret-keys", fpr))
	if !strings.Contains(secretListing, "ssb:") {
		t.Errorf("gpg lists no secret subkey:\n%s", secretListing)
	}
}

func TestImportGPGRevocationCertificate(t *testing.T) {
	gpg := newGPG(t)
	uid := "Rita <rita@example.org>"
	gpg.run(t, nil, "--quick-gen-key", uid, "future-default", "default", "never")
	fpr := gpg.fingerprintOf(t, uid)

	k := openTemp(t)
	importBytes(t, k, gpg.run(t, nil, "--export", fpr))

	// gpg writes a revocation certificate for every new key, with a colon
	// before the BEGIN line so that it is not imported by accident.
	revocation, err := os.ReadFile(gpg.home + "/openpgp-revocs.d/" + strings.ToUpper(fpr) + ".rev")
	if err != nil {
		t.Fatal(err)
	}
	revocation = bytes.Replace(revocation, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
	importBytes(t, k, revocation)

	_, err = k.EncryptionKey(context.Background(), "rita@example.org", time.Now())
	if lookup := lookupError(t, err); lookup.Status != StatusRevoked {
		t.Errorf("status = %q, want revoked (%v)", lookup.Status, err)
	}
}

// gpgEncryptionOnlySecret returns a secret key export made by gpg whose
// primary key is a GnuPG stub and whose only secret subkey encrypts, and the
// fingerprint of its primary key.
func gpgEncryptionOnlySecret(t *testing.T, gpg *gpgRunner, uid string) ([]byte, string) {
	t.Helper()
	gpg.run(t, nil, "--quick-gen-key", uid, "ed25519", "sign", "never")
	fpr := gpg.fingerprintOf(t, uid)
	gpg.run(t, nil, "--quick-add-key", fpr, "cv25519", "encr", "never")

	var subkeyFpr string
	listing := string(gpg.run(t, nil, "--with-colons", "--list-keys", fpr))
	for _, line := range strings.Split(listing, "\n") {
		if fields := strings.Split(line, ":"); fields[0] == "fpr" && !strings.EqualFold(fields[9], fpr) {
			subkeyFpr = fields[9]
		}
	}
	if subkeyFpr == "" {
		t.Fatalf("gpg lists no subkey for %s:\n%s", fpr, listing)
	}
	return gpg.run(t, nil, "--export-secret-subkeys", subkeyFpr+"!"), fpr
}

func TestSigningKeyGPGStubPrimary(t *testing.T) {
	gpg := newGPG(t)
	secret, fpr := gpgEncryptionOnlySecret(t, gpg, "Me <me@example.org>")
	if !strings.Contains(string(gpg.run(t, secret, "--list-packets")), "gnu-dummy") {
		t.Fatal("the gpg export has no GNU dummy primary key")
	}

	k := openTemp(t)
	imported := importBytes(t, k, secret)
	if len(imported) != 1 || !imported[0].Secret {
		t.Fatalf("Import = %+v, want one secret key", imported)
	}
	if !strings.Contains(imported[0].Warning, "GnuPG stub") {
		t.Errorf("Imported.Warning = %q, want it to explain the stub", imported[0].Warning)
	}

	_, err := k.SigningKey(context.Background(), "me@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusNoSigningSecret {
		t.Errorf("status = %q, want %q (%v)", lookup.Status, StatusNoSigningSecret, err)
	}
	if lookup.Fingerprint != fpr {
		t.Errorf("fingerprint = %q, want %q", lookup.Fingerprint, fpr)
	}
	for _, want := range []string{`"me@example.org"`, strings.ToUpper(fpr), "primary key is a GnuPG stub", "no signing subkey", "--encrypt"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	// The encryption subkey is still there to decrypt with.
	if _, err := k.EncryptionKey(context.Background(), "me@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey: %v", err)
	}

	// Importing the full secret key afterwards replaces the stub.
	importBytes(t, k, gpg.run(t, nil, "--export-secret-keys", fpr))
	signer, err := k.SigningKey(context.Background(), "me@example.org", time.Now())
	if err != nil {
		t.Fatalf("SigningKey after importing the full key: %v", err)
	}
	if signer.PrivateKey.Dummy() {
		t.Error("the stored primary key is still a GnuPG stub")
	}
	var signature bytes.Buffer
	if err := openpgp.DetachSign(&signature, []*openpgp.Entity{signer}, strings.NewReader("hello"), nil); err != nil {
		t.Errorf("DetachSign with the full key: %v", err)
	}
}
