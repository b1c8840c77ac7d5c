package keyring

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/sealmail/sealmail/crypto/smime"
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
	if _, err := k.Confirm(ctx, fingerprint(confirmed), []string{"bob@example.org"}, time.Now()); err != nil {
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
		{"plain", "From: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n", "carries no Autocrypt header or application/pgp-keys part, and no S/MIME certs-only part"},
		{"encrypted", "From: bob@example.org\r\nContent-Type: multipart/encrypted; boundary=e\r\n\r\n--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--e--\r\n",
			"keys and certificates inside the message body (multipart/encrypted) cannot be read, because that content is encrypted"},
		{"S/MIME encrypted", "From: bob@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n",
			`inside the message body (application/pkcs7-mime, "smime.p7m") cannot be read`},
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
	der, _ := selfSignedCertificate(f)
	f.Add(certsOnlyMessage(f, "Content-Type: application/octet-stream; name=\"x.p7c\"", der))
	f.Add(certsOnlyMessage(f, "Content-Type: application/pkcs7-mime; smime-type=certs-only", []byte{0x30, 0x80, 0x06, 0x09}))
	var part bytes.Buffer
	if err := smime.WriteCertsOnly(&part, []*x509.Certificate{mustParse(f, der)}, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(messageWithPart("bob@example.org", part.Bytes()))

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

// messageWithPart returns a message from from whose second part is part, a
// body part with its header fields.
func messageWithPart(from string, part []byte) []byte {
	header := "From: " + from + "\r\nTo: alice@example.org\r\nSubject: my certificate\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nMy certificate is attached.\r\n" +
		"--b\r\n"
	return append(append([]byte(header), part...), "\r\n--b--\r\n"...)
}

// certsOnlyMessage returns a message from bob@example.org whose second part
// has the header fields and der in base64 as its body.
func certsOnlyMessage(t testing.TB, fields string, der []byte) []byte {
	t.Helper()
	part := fields + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" + foldedBase64(der)
	return messageWithPart("bob@example.org", []byte(strings.ReplaceAll(part, "\r\n ", "\r\n")))
}

// writeCertsOnly returns certs as a certs-only part, as sealmail attaches
// them to a message.
func writeCertsOnly(t *testing.T, certs []*x509.Certificate, opts *smime.Options) []byte {
	t.Helper()
	var part bytes.Buffer
	if err := smime.WriteCertsOnly(&part, certs, opts); err != nil {
		t.Fatalf("WriteCertsOnly: %v", err)
	}
	return part.Bytes()
}

// assertListed fails the test when k does not list cert as an X.509
// certificate for address.
func assertListed(t *testing.T, k *Keyring, cert *x509.Certificate, address string) {
	t.Helper()
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.Fingerprint != certFingerprint(cert) {
			continue
		}
		if entry.Kind != KindX509 {
			t.Errorf("List shows %q with kind %q, want %q", cert.Subject, entry.Kind, KindX509)
		}
		if !slices.Contains(entry.Addresses, address) {
			t.Errorf("List shows %q with addresses %q, want %s among them", cert.Subject, entry.Addresses, address)
		}
		return
	}
	t.Errorf("List does not show %q (%d entries)", cert.Subject, len(entries))
}

func TestImportMessageCertsOnly(t *testing.T) {
	ctx := context.Background()
	ca := newTestCA(t)
	certPath, _ := ca.issue(leafSpec("bob", "bob@example.org", "ec:P-256"))
	bob := readPEMCertificate(t, certPath)
	k := openTemp(t)

	part := writeCertsOnly(t, []*x509.Certificate{bob, ca.intermediate}, nil)
	imported, err := importMessage(t, k, messageWithPart("Bob <bob@example.org>", part))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 2 {
		t.Fatalf("Import = %+v, want the certificate and the intermediate CA", imported)
	}
	for _, result := range imported {
		if result.Kind != KindX509 || result.Secret || result.Updated {
			t.Errorf("Import result %+v, want a new X.509 certificate without a secret key", result)
		}
		if want := `part 2 (application/pkcs7-mime, "smime.p7c") of the message from bob@example.org`; result.Location != want {
			t.Errorf("Import result location = %q, want %q", result.Location, want)
		}
	}
	assertListed(t, k, bob, "bob@example.org")

	// With the root as trust anchor, the chain from the message validates,
	// so mail to bob can be encrypted.
	if _, err := k.AddTrustAnchor(ctx, bytes.NewReader(readFile(t, ca.rootPEM))); err != nil {
		t.Fatalf("AddTrustAnchor: %v", err)
	}
	cert, err := k.RecipientCertificate(ctx, "bob@example.org", time.Now(), CertPolicy{})
	if err != nil {
		t.Fatalf("RecipientCertificate: %v", err)
	}
	if !cert.Equal(bob) {
		t.Errorf("RecipientCertificate = %q, want the certificate from the message", cert.Subject)
	}
}

func TestImportMessageCertsOnlyFromOpenSSL(t *testing.T) {
	ca := newTestCA(t)
	certPath, _ := ca.issue(leafSpec("bob", "bob@example.org", "rsa:2048"))
	bob := readPEMCertificate(t, certPath)

	// openssl crl2pkcs7 writes a certs-only SignedData, which a client may
	// send as application/octet-stream with the .p7c name only.
	der := ca.run("crl2pkcs7", "-nocrl", "-certfile", certPath, "-certfile", ca.interPEM, "-outform", "DER")
	k := openTemp(t)
	imported, err := importMessage(t, k, certsOnlyMessage(t, `Content-Type: application/octet-stream; name="bob.p7c"`, der))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 2 {
		t.Errorf("Import = %+v, want the certificate and the intermediate CA", imported)
	}
	assertListed(t, k, bob, "bob@example.org")
}

func TestImportMessageCertsOnlyAndAutocrypt(t *testing.T) {
	e := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	der, _ := selfSignedCertificate(t)
	xena := mustParse(t, der)
	k := openTemp(t)

	// The legacy type, after an Autocrypt header: both are taken.
	data := autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, e))
	header, _, _ := bytes.Cut(data, []byte("MIME-Version: 1.0\r\n"))
	_, body, _ := bytes.Cut(messageWithPart("bob@example.org", writeCertsOnly(t, []*x509.Certificate{xena}, &smime.Options{LegacyTypes: true})), []byte("MIME-Version: 1.0\r\n"))
	imported, err := importMessage(t, k, append(append(header, "MIME-Version: 1.0\r\n"...), body...))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(imported) != 2 {
		t.Fatalf("Import = %+v, want the Autocrypt key and the certificate", imported)
	}
	if imported[0].Kind != KindOpenPGP || imported[0].Fingerprint != fingerprint(e) {
		t.Errorf("first result = %+v, want the OpenPGP key %s", imported[0], fingerprint(e))
	}
	if imported[1].Kind != KindX509 || imported[1].Fingerprint != certFingerprint(xena) {
		t.Errorf("second result = %+v, want the certificate %s", imported[1], certFingerprint(xena))
	}
	assertListed(t, k, xena, "xena@example.org")
}

func TestImportMessageCertsOnlyInvalid(t *testing.T) {
	e := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	k := openTemp(t)

	// The Autocrypt key is good, but the certs-only part contains no
	// SignedData, so nothing is stored.
	data := autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, e))
	header, _, _ := bytes.Cut(data, []byte("MIME-Version: 1.0\r\n"))
	_, body, _ := bytes.Cut(certsOnlyMessage(t, `Content-Type: application/pkcs7-mime; smime-type=certs-only; name="smime.p7c"`, []byte{0x30, 0x03, 0x02, 0x01, 0x01}),
		[]byte("MIME-Version: 1.0\r\n"))
	_, err := importMessage(t, k, append(append(header, "MIME-Version: 1.0\r\n"...), body...))
	if err == nil {
		t.Fatal("Import succeeded, want an error for the certs-only part")
	}
	if want := `failed to read the certificates in part 2 (application/pkcs7-mime, "smime.p7c")`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	assertEmpty(t, k)
}

func TestImportMessageCertsOnlyPKCS12(t *testing.T) {
	der, keyDER := selfSignedCertificate(t)
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pkcs12.Modern.Encode(key, mustParse(t, der), nil, "secret")
	if err != nil {
		t.Fatal(err)
	}
	k := openTemp(t)

	_, err = importMessage(t, k, certsOnlyMessage(t, `Content-Type: application/octet-stream; name="xena.p7c"`, bundle))
	if !errors.Is(err, ErrSecretKey) {
		t.Fatalf("Import: %v, want ErrSecretKey", err)
	}
	if want := `part 2 (application/octet-stream, "xena.p7c")`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	assertEmpty(t, k)
}
