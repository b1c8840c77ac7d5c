package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/crypto/pgpmime"
	"github.com/sealmail/sealmail/crypto/smime"
	"github.com/sealmail/sealmail/internal/peers"
)

// patchEntity is a git patch as format-patch labels it: 8bit UTF-8 text with
// trailing white space (an empty context line, the signature separator) and
// a line that starts with "From ".
const patchEntity = "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n" +
	"---\n a.txt | 2 ++\n\ndiff --git a/a.txt b/a.txt\n@@ -1 +1,3 @@\n hello\n \n+w\xc3\xb6rld\n+From here\n-- \n2.39.5\n"

// patchText is the content of patchEntity in canonical form.
var patchText = strings.ReplaceAll(patchEntity[strings.Index(patchEntity, "\n\n")+2:], "\n", "\r\n")

func entityMessage() *Message {
	return &Message{
		From:       addr("Alice <alice@example.org>"),
		To:         addrs("bob@example.org"),
		Cc:         addrs("carol@example.org"),
		Subject:    "[PATCH] Change a.txt",
		MessageID:  "20261205002454.1-1-alice@example.org",
		Header:     []Field{{"In-Reply-To", "<orig@example.org>"}, {"References", "<orig@example.org>"}},
		Entity:     []byte(patchEntity),
		Recipients: []string{"bob@example.org", "dave@example.org"},
	}
}

func TestEntityRecipientCopies(t *testing.T) {
	// carol is only in the header, so she has no key and needs none.
	p := newPeople(t, "alice", "bob", "dave")
	c, err := New(context.Background(), entityMessage(), Options{Signer: p.keys["alice@example.org"], Keys: p.keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	copies := c.Copies()
	if len(copies) != 2 {
		t.Fatalf("got %d copies, want 2: %+v", len(copies), copies)
	}
	if got := copies[0].Envelope.Recipients; !slices.Equal(got, []string{"bob@example.org"}) || copies[0].Bcc != "" {
		t.Errorf("shared copy: recipients %q, Bcc %q; want bob alone", got, copies[0].Bcc)
	}
	if got := copies[1].Envelope.Recipients; !slices.Equal(got, []string{"dave@example.org"}) || copies[1].Bcc != "dave@example.org" {
		t.Errorf("own copy: recipients %q, Bcc %q; want dave", got, copies[1].Bcc)
	}

	raws := writeCopies(t, c)
	all := openpgp.EntityList{p.keys["alice@example.org"], p.keys["bob@example.org"], p.keys["dave@example.org"]}
	for i, raw := range raws {
		if copies[i].MessageID != "20261205002454.1-1-alice@example.org" {
			t.Errorf("copy %d Message-ID = %q, want the given one", i, copies[i].MessageID)
		}
		if !bytes.Contains(raw, []byte("\r\nCc: carol@example.org\r\n")) || !bytes.Contains(raw, []byte("\r\nIn-Reply-To: <orig@example.org>\r\n")) {
			t.Errorf("copy %d lacks the Cc or In-Reply-To field:\n%s", i, raw)
		}
		opened, err := pgpmime.Open(bytes.NewReader(raw), all, nil)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		if i == 0 && slices.Contains(opened.RecipientKeyIDs, encryptionKeyID(t, p.keys["dave@example.org"])) {
			t.Errorf("the shared copy names dave's key ID")
		}
		// The combined form signs inside the encryption, so 8-bit text is
		// re-encoded for the 7-bit rule of the encrypting package only.
		if got := leafContents(t, opened.Entity); len(got) != 1 || got[0] != patchText {
			t.Errorf("copy %d: decrypted content = %q, want %q", i, got, patchText)
		}
	}
}

// TestEntityGPG has gpg verify a signed entity and decrypt a signed and
// encrypted one, and compares what it returns with the input.
func TestEntityGPG(t *testing.T) {
	gpgPath := peers.Require(t, "gpg")
	p := newPeople(t, "alice", "bob", "dave")
	home := gpgHome(t, gpgPath)
	var keys bytes.Buffer
	if err := p.keys["bob@example.org"].SerializePrivate(&keys, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.keys["alice@example.org"].Serialize(&keys); err != nil {
		t.Fatal(err)
	}
	runGPG(t, gpgPath, home, keys.Bytes(), "--import")

	for _, mode := range []Mode{SignOnly, SignAndEncrypt} {
		c, err := New(context.Background(), entityMessage(), Options{Mode: mode, Signer: p.keys["alice@example.org"], Keys: p.keys})
		if err != nil {
			t.Fatalf("%v: New: %v", mode, err)
		}
		raw := writeCopies(t, c)[0]

		var entity []byte
		if mode == SignOnly {
			entity = gpgVerifyMultipartSigned(t, gpgPath, home, raw)
		} else {
			armored := raw[bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----")):]
			armored = armored[:bytes.Index(armored, []byte("-----END PGP MESSAGE-----"))+len("-----END PGP MESSAGE-----")]
			var stderr string
			entity, stderr = runGPG(t, gpgPath, home, armored, "--status-fd", "2", "--decrypt")
			if !strings.Contains(stderr, "[GNUPG:] GOODSIG") {
				t.Errorf("%v: gpg reports no good signature:\n%s", mode, stderr)
			}
		}
		if got := leafContents(t, entity); len(got) != 1 || got[0] != patchText {
			t.Errorf("%v: content = %q, want %q", mode, got, patchText)
		}
		if mode == SignOnly && !bytes.Contains(entity, []byte("Content-Transfer-Encoding: quoted-printable\r\n")) {
			t.Errorf("the signed entity is not quoted-printable:\n%s", entity)
		}
	}
}

// TestEntityGPGKeepsBytes has gpg decrypt a copy of an entity that is
// 7-bit already, and finds it byte for byte, with CRLF line endings.
func TestEntityGPGKeepsBytes(t *testing.T) {
	gpgPath := peers.Require(t, "gpg")
	p := newPeople(t, "alice", "bob")
	home := gpgHome(t, gpgPath)
	var keys bytes.Buffer
	if err := p.keys["bob@example.org"].SerializePrivate(&keys, nil); err != nil {
		t.Fatal(err)
	}
	runGPG(t, gpgPath, home, keys.Bytes(), "--import")

	entity := "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nHello  \nFrom me\n" +
		"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--b--\n"
	m := &Message{From: addr("alice@example.org"), To: addrs("bob@example.org"), Subject: "Hi", Entity: []byte(entity)}
	// Header protection would wrap the entity in a multipart of its own.
	c, err := New(context.Background(), m, Options{Mode: EncryptOnly, Keys: p.keys, NoHeaderProtection: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]
	armored := raw[bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----")):]
	plain, _ := runGPG(t, gpgPath, home, armored, "--decrypt")
	if want := strings.ReplaceAll(entity, "\n", "\r\n"); string(plain) != want {
		t.Errorf("gpg decrypts to\n%q\nwant the entity with CRLF\n%q", plain, want)
	}
}

// gpgVerifySigned returns the first part of the multipart/signed message
// raw after gpg verified the detached signature of its second part over it.
func gpgVerifyMultipartSigned(t *testing.T, gpgPath, home string, raw []byte) []byte {
	t.Helper()
	e := readEntity(t, raw)
	_, params, err := e.Header.ContentType()
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, e.Body)
	delimiter := "--" + params["boundary"]
	start := strings.Index(body, delimiter+"\r\n") + len(delimiter) + 2
	end := strings.Index(body, "\r\n"+delimiter+"\r\n")
	signed := body[start:end]
	sigStart := strings.Index(body, "-----BEGIN PGP SIGNATURE-----")
	sigEnd := strings.Index(body, "-----END PGP SIGNATURE-----") + len("-----END PGP SIGNATURE-----")

	dir := t.TempDir()
	data, sig := filepath.Join(dir, "data"), filepath.Join(dir, "data.asc")
	if err := os.WriteFile(data, []byte(signed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sig, []byte(body[sigStart:sigEnd]), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := runGPG(t, gpgPath, home, nil, "--status-fd", "2", "--verify", sig, data)
	if !strings.Contains(stderr, "[GNUPG:] GOODSIG") {
		t.Errorf("gpg reports no good signature:\n%s", stderr)
	}
	return []byte(signed)
}

// testCertificates is a CertificateSource of fixed certificates.
type testCertificates map[string]*x509.Certificate

func (c testCertificates) RecipientCertificate(_ context.Context, address string, _ time.Time) (*x509.Certificate, error) {
	return c[address], nil
}

// newSMIMEIdentity makes an RSA certificate for address that its own key
// signs, with the emailProtection purpose, and writes the certificate and
// key as PEM into dir.
func newSMIMEIdentity(t *testing.T, dir, address string) (*smime.Signer, string, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: address},
		EmailAddresses:        []string{address},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, address+".pem"), filepath.Join(dir, address+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &smime.Signer{Certificate: cert, Key: key}, certFile, keyFile
}

// TestEntitySMIMEOpenSSL has openssl decrypt and verify a signed and
// encrypted S/MIME copy of an entity, and verify a signed one.
func TestEntitySMIMEOpenSSL(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	alice, aliceCert, _ := newSMIMEIdentity(t, dir, "alice@example.org")
	bob, bobCert, bobKey := newSMIMEIdentity(t, dir, "bob@example.org")
	certs := testCertificates{"alice@example.org": alice.Certificate, "bob@example.org": bob.Certificate}

	for _, mode := range []Mode{SignOnly, SignAndEncrypt} {
		m := entityMessage()
		m.Cc, m.Recipients = nil, nil
		c, err := New(context.Background(), m, Options{Mode: mode, Scheme: SMIME, SMIMESigner: alice, Certificates: certs})
		if err != nil {
			t.Fatalf("%v: New: %v", mode, err)
		}
		raw := writeCopies(t, c)[0]
		message := filepath.Join(dir, "message.eml")
		if err := os.WriteFile(message, raw, 0o600); err != nil {
			t.Fatal(err)
		}

		signedFile := message
		if mode == SignAndEncrypt {
			decrypted := runOpenSSL(t, openssl, "smime", "-decrypt", "-in", message, "-recip", bobCert, "-inkey", bobKey)
			signedFile = filepath.Join(dir, "signed.eml")
			if err := os.WriteFile(signedFile, decrypted, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		entity := runOpenSSL(t, openssl, "smime", "-verify", "-in", signedFile, "-CAfile", aliceCert)
		got := leafContents(t, entity)
		if len(got) != 1 || strings.ReplaceAll(got[0], "\r\n", "\n") != strings.ReplaceAll(patchText, "\r\n", "\n") {
			t.Errorf("%v: content = %q, want %q", mode, got, patchText)
		}
	}
}

func runOpenSSL(t *testing.T, openssl string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}
