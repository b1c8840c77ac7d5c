package compose

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/peers"
)

// gpgHomeFor returns a gpg home that contains the secret key of reader and
// alice's public key.
func gpgHomeFor(t *testing.T, gpgPath string, p *people, reader string) string {
	t.Helper()
	home := gpgHome(t, gpgPath)
	var keys bytes.Buffer
	if err := p.keys[reader].SerializePrivate(&keys, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.keys["alice@example.org"].Serialize(&keys); err != nil {
		t.Fatal(err)
	}
	runGPG(t, gpgPath, home, keys.Bytes(), "--import")
	return home
}

// gpgOpen has gpg decrypt raw, or verify it when it is only signed, and
// returns the protected entity. gpg must report alice's good signature when
// mode signs.
func gpgOpen(t *testing.T, gpgPath, home string, mode Mode, raw []byte) []byte {
	t.Helper()
	if mode == SignOnly {
		return gpgVerifyMultipartSigned(t, gpgPath, home, raw)
	}
	start := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	if start < 0 {
		t.Fatalf("no PGP MESSAGE in the copy:\n%s", raw)
	}
	entity, stderr := runGPG(t, gpgPath, home, raw[start:], "--status-fd", "2", "--decrypt")
	if got := strings.Contains(stderr, "[GNUPG:] GOODSIG"); got != mode.signs() {
		t.Errorf("%v: gpg reports a good signature %v, want %v:\n%s", mode, got, mode.signs(), stderr)
	}
	return entity
}

// checkOuterHidesWords checks that the raw outer header of an encrypted copy
// shows none of the words of protectedSubject.
func checkOuterHidesWords(t *testing.T, raw []byte) {
	t.Helper()
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	// The Autocrypt keydata is base64 of a key, which may spell a short word
	// by chance.
	visible := withoutField(string(header), "Autocrypt")
	for _, word := range []string{"=C3=9Cbernahme", "bernahme", "Firma", "Acme"} {
		if strings.Contains(visible, word) {
			t.Errorf("the outer header shows %q of the subject:\n%s", word, visible)
		}
	}
}

// TestHeaderProtectionGPG has gpg decrypt or verify a copy in each mode,
// and checks the header block it returns against the outer header. An
// encrypted copy has the real Subject inside, with HP-Outer, and "[...]"
// outside. A signed-only copy has an exact copy of the outer fields.
func TestHeaderProtectionGPG(t *testing.T) {
	gpgPath := peers.Require(t, "gpg")
	p := newPeople(t, "alice", "bob", "carol")
	home := gpgHomeFor(t, gpgPath, p, "bob@example.org")

	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			m := protectedMessage()
			m.Bcc = nil
			c, err := New(context.Background(), m, Options{Mode: mode, Signer: p.keys["alice@example.org"], Keys: p.keys})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			raw := writeCopies(t, c)[0]
			entity := gpgOpen(t, gpgPath, home, mode, raw)
			checkProtectedCopy(t, mode, headerFieldsOf(t, raw), headerFieldsOf(t, entity))
			if mode.encrypts() {
				checkOuterHidesWords(t, raw)
			}
		})
	}
}

// TestHeaderProtectionOpenSSL has openssl decrypt and verify an S/MIME
// copy in each mode, with both its smime and cms commands, and checks the
// header block it returns against the outer header.
func TestHeaderProtectionOpenSSL(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	alice, aliceCert, _ := newSMIMEIdentity(t, dir, "alice@example.org")
	bob, bobCert, bobKey := newSMIMEIdentity(t, dir, "bob@example.org")
	carol, _, _ := newSMIMEIdentity(t, dir, "carol@example.org")
	certs := testCertificates{"alice@example.org": alice.Certificate, "bob@example.org": bob.Certificate, "carol@example.org": carol.Certificate}

	for _, command := range []string{"smime", "cms"} {
		for _, mode := range allModes {
			t.Run(command+"/"+mode.String(), func(t *testing.T) {
				m := protectedMessage()
				m.Bcc = nil
				c, err := New(context.Background(), m, Options{Mode: mode, Scheme: SMIME, SMIMESigner: alice, Certificates: certs})
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				raw := writeCopies(t, c)[0]
				message := filepath.Join(t.TempDir(), "message.eml")
				if err := os.WriteFile(message, raw, 0o600); err != nil {
					t.Fatal(err)
				}

				entity := raw
				if mode.encrypts() {
					entity = runOpenSSL(t, openssl, command, "-decrypt", "-in", message, "-recip", bobCert, "-inkey", bobKey)
				}
				if mode.signs() {
					signed := filepath.Join(t.TempDir(), "signed.eml")
					if err := os.WriteFile(signed, entity, 0o600); err != nil {
						t.Fatal(err)
					}
					entity = runOpenSSL(t, openssl, command, "-verify", "-in", signed, "-CAfile", aliceCert, "-purpose", "smimesign")
				}
				checkProtectedCopy(t, mode, headerFieldsOf(t, raw), headerFieldsOf(t, crlfLineEndings(entity)))
				if mode.encrypts() {
					checkOuterHidesWords(t, raw)
				}
			})
		}
	}
}

// keyPartOf returns the body of the part of mediaType in the multipart/mixed
// protected entity.
func keyPartOf(t *testing.T, entity []byte, mediaType string) string {
	t.Helper()
	for _, pt := range payloadParts(t, entity) {
		if pt.mediaType == mediaType {
			return pt.body
		}
	}
	t.Fatalf("the protected entity has no %s part:\n%s", mediaType, entity)
	return ""
}

// gpgColons returns the records of gpg --with-colons output whose type is
// one of types, each split into its fields.
func gpgColons(listing []byte, types ...string) [][]string {
	var records [][]string
	for _, line := range strings.Split(string(listing), "\n") {
		fields := strings.Split(line, ":")
		if slices.Contains(types, fields[0]) {
			records = append(records, fields)
		}
	}
	return records
}

// TestAttachedKeyGPG has gpg read the copies of a message with an attached
// key, import the application/pgp-keys part into an empty home, and
// encrypt to it. The key must have alice's primary key, one user ID and
// one encryption subkey.
func TestAttachedKeyGPG(t *testing.T) {
	gpgPath := peers.Require(t, "gpg")
	p := newPeople(t, "alice", "bob")
	alice := p.keys["alice@example.org"]
	home := gpgHomeFor(t, gpgPath, p, "bob@example.org")

	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			m := protectedMessage()
			m.Cc, m.Bcc = nil, nil
			c, err := New(context.Background(), m, Options{Mode: mode, Signer: alice, Keys: p.keys, AttachKey: true})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			entity := gpgOpen(t, gpgPath, home, mode, writeCopies(t, c)[0])
			armored := keyPartOf(t, entity, "application/pgp-keys")

			importer := gpgHome(t, gpgPath)
			_, stderr := runGPG(t, gpgPath, importer, []byte(armored), "--status-fd", "2", "--import")
			if !strings.Contains(stderr, "[GNUPG:] IMPORT_OK") {
				t.Errorf("gpg --import reports no IMPORT_OK:\n%s", stderr)
			}
			listing, _ := runGPG(t, gpgPath, importer, nil, "--with-colons", "--list-keys")
			fingerprints := gpgColons(listing, "fpr")
			if len(fingerprints) != 2 || fingerprints[0][9] != fmt.Sprintf("%X", alice.PrimaryKey.Fingerprint) {
				t.Errorf("gpg lists the fingerprints %q, want alice's primary key %X and one subkey", fingerprints, alice.PrimaryKey.Fingerprint)
			}
			uids := gpgColons(listing, "uid")
			if len(uids) != 1 || !strings.Contains(uids[0][9], "<alice@example.org>") {
				t.Errorf("gpg lists the user IDs %q, want one for alice@example.org", uids)
			}
			subkeys := gpgColons(listing, "sub")
			if len(subkeys) != 1 || !strings.Contains(subkeys[0][11], "e") {
				t.Errorf("gpg lists the subkeys %q, want one encryption subkey", subkeys)
			}

			ciphertext, _ := runGPG(t, gpgPath, importer, []byte("reply"), "--encrypt", "--recipient", "alice@example.org")
			md, err := openpgp.ReadMessage(bytes.NewReader(ciphertext), openpgp.EntityList{alice}, nil, nil)
			if err != nil {
				t.Fatalf("alice cannot decrypt what gpg encrypted to the attached key: %v", err)
			}
			if plain, err := io.ReadAll(md.UnverifiedBody); err != nil || string(plain) != "reply" {
				t.Errorf("decrypted %q (%v), want \"reply\"", plain, err)
			}
		})
	}
}

// TestAttachedCertImport has openssl decrypt and verify an S/MIME copy with
// the attached certificates. openssl pkcs7 and gpgsm must read alice's
// certificate and the intermediate, and no root, from the certs-only part.
func TestAttachedCertImport(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	gpgsm := gpgtest.NewGPGSM(t)
	dir := t.TempDir()
	alice, root := newSMIMEChain(t)
	bob, bobCert, bobKey := newSMIMEIdentity(t, dir, "bob@example.org")
	certs := testCertificates{"alice@example.org": alice.Certificate, "bob@example.org": bob.Certificate}
	rootFile := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	m := protectedMessage()
	m.Cc, m.Bcc = nil, nil
	c, err := New(context.Background(), m, Options{Scheme: SMIME, SMIMESigner: alice, Certificates: certs, AttachKey: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	message, signed := filepath.Join(dir, "message.eml"), filepath.Join(dir, "signed.eml")
	if err := os.WriteFile(message, writeCopies(t, c)[0], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(signed, runOpenSSL(t, openssl, "cms", "-decrypt", "-in", message, "-recip", bobCert, "-inkey", bobKey), 0o600); err != nil {
		t.Fatal(err)
	}
	entity := crlfLineEndings(runOpenSSL(t, openssl, "cms", "-verify", "-in", signed, "-CAfile", rootFile, "-purpose", "smimesign"))
	p7c := filepath.Join(dir, "smime.p7c")
	if err := os.WriteFile(p7c, []byte(keyPartOf(t, entity, "application/pkcs7-mime")), 0o600); err != nil {
		t.Fatal(err)
	}

	printed := string(runOpenSSL(t, openssl, "pkcs7", "-inform", "DER", "-in", p7c, "-print_certs", "-noout"))
	for _, want := range []string{"CN = Alice", "CN = Test Intermediate"} {
		if !strings.Contains(printed, "subject="+want) {
			t.Errorf("openssl pkcs7 -print_certs lacks the subject %q:\n%s", want, printed)
		}
	}
	if strings.Contains(printed, "subject=CN = Test Root") {
		t.Errorf("the certs-only part contains the root:\n%s", printed)
	}

	runGpgsm := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpgsm.Path, append([]string{"--batch"}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+gpgsm.Home)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpgsm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.Bytes()
	}
	runGpgsm("--import", p7c)
	listing := runGpgsm("--with-colons", "--list-keys")
	var fingerprints []string
	for _, record := range gpgColons(listing, "fpr") {
		fingerprints = append(fingerprints, record[9])
	}
	for _, cert := range []struct {
		name string
		raw  []byte
	}{{"alice", alice.Certificate.Raw}, {"intermediate", alice.Chain[0].Raw}} {
		if want := fmt.Sprintf("%X", sha1.Sum(cert.raw)); !slices.Contains(fingerprints, want) {
			t.Errorf("gpgsm did not import the certificate of %s (%s) and lists %q", cert.name, want, fingerprints)
		}
	}
	if len(fingerprints) != 2 {
		t.Errorf("gpgsm lists %d certificates, want alice's and the intermediate", len(fingerprints))
	}
	if !bytes.Contains(listing, []byte("<alice@example.org>")) {
		t.Errorf("gpgsm lists no certificate for alice@example.org:\n%s", listing)
	}
}
