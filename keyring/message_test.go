package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/gpgtest"
)

// foldedBase64 returns the base64 of data in lines of 76 characters, each
// continuation line starting with a space, as a folded header field value.
func foldedBase64(data []byte) string {
	encoded := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(encoded) > 76 {
		lines = append(lines, encoded[:76])
		encoded = encoded[76:]
	}
	return strings.Join(append(lines, encoded), "\r\n ")
}

// autocryptMessage returns a message from from with an Autocrypt header
// field for addr that carries the binary key.
func autocryptMessage(from, addr string, key []byte) []byte {
	return []byte("From: " + from + "\r\nTo: alice@example.org\r\nSubject: hello\r\n" +
		"Autocrypt: addr=" + addr + "; prefer-encrypt=mutual; keydata=\r\n " + foldedBase64(key) + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello.\r\n")
}

// attachedMessage returns a message from from with the armored key in an
// application/pgp-keys part.
func attachedMessage(from string, key []byte) []byte {
	body := "From: " + from + "\nSubject: my key\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nMy key is attached.\n" +
		"--b\nContent-Type: application/pgp-keys; name=key.asc\n\n" + string(key) + "\n--b--\n"
	return []byte(strings.ReplaceAll(body, "\n", "\r\n"))
}

func importMessage(t *testing.T, k *Keyring, data []byte) ([]Imported, error) {
	t.Helper()
	return k.Import(context.Background(), bytes.NewReader(data))
}

func TestIsMessage(t *testing.T) {
	e := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	public := publicBytes(t, e)
	der, _ := selfSignedCertificate(t)

	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"message", []byte("From: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"), true},
		{"LF message", []byte("Subject: hi\nContent-Type: text/plain\n\nHello.\n"), true},
		{"folded header", []byte("Subject: hi\r\n there\r\nFrom: bob@example.org\r\n\r\n"), true},
		{"mbox From line", []byte("From bob@example.org Mon Jan  1 00:00:00 2024\nFrom: bob@example.org\n\nHi.\n"), true},
		{"armored key", armored(t, openpgp.PublicKeyType, public), false},
		{"binary key", public, false},
		{"DER", der, false},
		{"PEM", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), false},
		{"openssl text", []byte("Certificate:\n    Data:\n        Version: 3 (0x2)\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), false},
		{"no From or Content-Type", []byte("Subject: hi\n\nHello.\n"), false},
		{"no empty line", []byte("From: bob@example.org\n"), false},
		{"text", []byte("This is a letter, not a key.\n"), false},
		{"continuation first", []byte(" From: bob@example.org\n\n"), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isMessage(tt.data); got != tt.want {
				t.Errorf("isMessage = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestImportMessageFromGPG(t *testing.T) {
	g := gpgtest.New(t)
	const uid, otherUID = "Bob <bob@example.org>", "Bob at work <bob@work.example>"
	if _, stderr, err := g.Run(t, nil, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign,cert", "never"); err != nil {
		t.Fatalf("gpg --quick-gen-key: %v\n%s", err, stderr)
	}
	listing, _, err := g.Run(t, nil, "--with-colons", "--list-keys", uid)
	if err != nil {
		t.Fatal(err)
	}
	fpr := colonFingerprint(t, listing)
	for _, args := range [][]string{
		{"--quick-add-key", fpr, "cv25519", "encr", "never"},
		{"--quick-add-uid", fpr, otherUID},
	} {
		if _, stderr, err := g.Run(t, nil, append([]string{"--passphrase", ""}, args...)...); err != nil {
			t.Fatalf("gpg %s: %v\n%s", args[0], err, stderr)
		}
	}
	exported, stderr, err := g.Run(t, nil, "--export", "--export-options", "export-minimal", fpr)
	if err != nil || len(exported) == 0 {
		t.Fatalf("gpg --export: %v\n%s", err, stderr)
	}

	k := openTemp(t)
	imported, err := importMessage(t, k, autocryptMessage("Bob <bob@example.org>", "bob@example.org", exported))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 1 || imported[0].Fingerprint != fpr {
		t.Fatalf("Import = %+v, want key %s", imported, fpr)
	}
	if got := imported[0].UserIDs; len(got) != 1 || got[0] != uid {
		t.Errorf("UserIDs = %q, want only %q", got, uid)
	}
	if imported[0].Kind != KindOpenPGP {
		t.Errorf("Kind = %q, want %q", imported[0].Kind, KindOpenPGP)
	}

	p, err := k.Provenance(context.Background(), fpr)
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != OriginAutocrypt {
		t.Errorf("Origin = %q, want %q", p.Origin, OriginAutocrypt)
	}
	if p.Source != "bob@example.org" {
		t.Errorf("Source = %q, want bob@example.org", p.Source)
	}
	if p.Confirmed != nil {
		t.Errorf("Confirmed = %v, want nil for a key from a message", p.Confirmed)
	}

	cert, err := k.EncryptionKey(context.Background(), "bob@example.org", time.Now())
	if err != nil {
		t.Fatalf("EncryptionKey: %v", err)
	}
	if got := fingerprint(cert); got != fpr {
		t.Errorf("EncryptionKey = %s, want %s", got, fpr)
	}
	if _, err := k.EncryptionKey(context.Background(), "bob@work.example", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("EncryptionKey for the dropped user ID: %v, want ErrNotFound", err)
	}
}

// colonFingerprint returns the first fingerprint in gpg --with-colons output.
func colonFingerprint(t *testing.T, listing []byte) string {
	t.Helper()
	for _, line := range strings.Split(string(listing), "\n") {
		if fields := strings.Split(line, ":"); fields[0] == "fpr" && len(fields) > 9 {
			return strings.ToLower(fields[9])
		}
	}
	t.Fatalf("gpg lists no fingerprint:\n%s", listing)
	return ""
}

func TestImportMessageSecretKey(t *testing.T) {
	e := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	k := openTemp(t)

	_, err := importMessage(t, k, attachedMessage("bob@example.org", armored(t, openpgp.PrivateKeyType, secretBytes(t, e))))
	if !errors.Is(err, ErrSecretKey) {
		t.Fatalf("Import: %v, want ErrSecretKey", err)
	}
	if !strings.Contains(err.Error(), `part 2 (application/pgp-keys, "key.asc")`) {
		t.Errorf("error %q does not name the part", err)
	}
	assertEmpty(t, k)
}

// assertEmpty fails the test when k stores any key.
func assertEmpty(t *testing.T, k *Keyring) {
	t.Helper()
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("List = %d entries, want none", len(entries))
	}
}

func TestImportMessageBadKeyStoresNothing(t *testing.T) {
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	mallory := generate(t, "Mallory", "mallory@example.org", GenerateOptions{})
	k := openTemp(t)

	// The Autocrypt key is good, but the attached one has no user ID for
	// the sender, so neither is stored.
	data := autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, bob))
	body := attachedMessage("bob@example.org", armored(t, openpgp.PublicKeyType, publicBytes(t, mallory)))
	_, attachedBody, _ := bytes.Cut(body, []byte("MIME-Version: 1.0\r\n"))
	header, _, _ := bytes.Cut(data, []byte("MIME-Version: 1.0\r\n"))
	_, err := importMessage(t, k, append(append(header, "MIME-Version: 1.0\r\n"...), attachedBody...))
	if !errors.Is(err, ErrNoMatchingUserID) {
		t.Fatalf("Import: %v, want ErrNoMatchingUserID", err)
	}
	assertEmpty(t, k)
}

func TestImportMessageKeepsConfirmedKey(t *testing.T) {
	ctx := context.Background()
	confirmed := generate(t, "Bob", "bob@example.org", GenerateOptions{Now: time.Now().Add(-time.Hour)})
	newer := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	k := openTemp(t)
	importBytes(t, k, publicBytes(t, confirmed))
	if _, err := k.Confirm(ctx, fingerprint(confirmed), time.Now()); err != nil {
		t.Fatal(err)
	}

	imported, err := importMessage(t, k, autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, newer)))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 1 || imported[0].Fingerprint != fingerprint(newer) {
		t.Fatalf("Import = %+v, want the Autocrypt key stored", imported)
	}
	if !strings.Contains(imported[0].Warning, "stays encrypted to the confirmed key") {
		t.Errorf("Warning = %q, want one about the confirmed key", imported[0].Warning)
	}

	cert, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := fingerprint(cert); got != fingerprint(confirmed) {
		t.Errorf("EncryptionKey = %s, want the confirmed key %s", got, fingerprint(confirmed))
	}
}

func TestImportMessageAttachedKey(t *testing.T) {
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	k := openTemp(t)

	imported, err := importMessage(t, k, attachedMessage("Bob <BOB@example.org>", armored(t, openpgp.PublicKeyType, publicBytes(t, bob))))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 1 {
		t.Fatalf("Import = %+v, want one key", imported)
	}
	p, err := k.Provenance(context.Background(), fingerprint(bob))
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != OriginAttached || p.Source != "BOB@example.org" {
		t.Errorf("Provenance = %+v, want attached from BOB@example.org", p)
	}
}

func TestImportMessageSameKeyTwice(t *testing.T) {
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	k := openTemp(t)

	data := autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, bob))
	header, _, _ := bytes.Cut(data, []byte("MIME-Version: 1.0\r\n"))
	_, attachedBody, _ := bytes.Cut(attachedMessage("bob@example.org", armored(t, openpgp.PublicKeyType, publicBytes(t, bob))), []byte("MIME-Version: 1.0\r\n"))
	imported, err := importMessage(t, k, append(append(header, "MIME-Version: 1.0\r\n"...), attachedBody...))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 1 || imported[0].Updated {
		t.Errorf("Import = %+v, want one new key", imported)
	}
	p, err := k.Provenance(context.Background(), fingerprint(bob))
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != OriginAutocrypt {
		t.Errorf("Origin = %q, want %q from the header, which comes first", p.Origin, OriginAutocrypt)
	}
}

func TestImportMessageNoKey(t *testing.T) {
	k := openTemp(t)
	tests := []struct {
		name, message, want string
	}{
		{"plain", "From: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n", "carries no Autocrypt header or application/pgp-keys part"},
		{"ignored header", "From: bob@example.org\r\nAutocrypt: addr=mallory@example.org; keydata=xsBN\r\n\r\nHello.\r\n", `not for the From address "bob@example.org"`},
		{"key in the text", "From: bob@example.org\r\n\r\nMy key:\r\n-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmQ==\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n", "save the armored block to a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := importMessage(t, k, []byte(tt.message))
			if !errors.Is(err, ErrNoKey) {
				t.Fatalf("Import: %v, want ErrNoKey", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func FuzzImportMessage(f *testing.F) {
	bob, err := Generate("Bob", "bob@example.org", GenerateOptions{Now: time.Unix(1700000000, 0)})
	if err != nil {
		f.Fatal(err)
	}
	var public, secret bytes.Buffer
	if err := bob.Serialize(&public); err != nil {
		f.Fatal(err)
	}
	if err := bob.SerializePrivate(&secret, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(autocryptMessage("bob@example.org", "bob@example.org", public.Bytes()))
	f.Add(autocryptMessage("bob@example.org", "bob@example.org", secret.Bytes()))
	f.Add(autocryptMessage("bob@example.org", "bob@example.org", public.Bytes()[:public.Len()/2]))
	f.Add(attachedMessage("bob@example.org", public.Bytes()))
	f.Add(attachedMessage("bob@example.org", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n")))

	k, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		imported, err := k.Import(context.Background(), bytes.NewReader(data))
		if err != nil || !isMessage(data) {
			return
		}
		// A message never brings a secret key into the keyring.
		for _, result := range imported {
			if result.Secret {
				t.Fatalf("Import stored secret key %s from a message", result.Fingerprint)
			}
		}
	})
}

func TestImportMessageAttachedKeysOfOthers(t *testing.T) {
	k := openTemp(t)
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	carol := generate(t, "Carol", "carol@example.org", GenerateOptions{})
	both := armored(t, openpgp.PublicKeyType, append(publicBytes(t, bob), publicBytes(t, carol)...))

	imported, err := importMessage(t, k, attachedMessage("bob@example.org", both))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 1 || imported[0].Fingerprint != fingerprint(bob) {
		t.Fatalf("Import = %+v, want Bob's key only", imported)
	}
	if !strings.Contains(imported[0].Warning, strings.ToUpper(fingerprint(carol))) {
		t.Errorf("Warning = %q, want it to name Carol's key, which was not imported", imported[0].Warning)
	}
	if _, err := k.EncryptionKey(context.Background(), "carol@example.org", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("EncryptionKey(carol) = %v, want ErrNotFound", err)
	}
}
