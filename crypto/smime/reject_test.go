package smime

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/peers"
)

// TestHeaderCaseChangeBreaksSignature shows that the header of the signed
// part is covered: a relay that re-cases a header name breaks the
// signature for Open and for OpenSSL.
func TestHeaderCaseChangeBreaksSignature(t *testing.T) {
	peers.Require(t, "openssl")
	pki := newTestPKI(t)
	message := sign(t, pki.issue(t, kindRSA2048, "alice@example.org"), testEntity, nil)
	changed := bytes.Replace(message, []byte("\r\nContent-Transfer-Encoding: quoted-printable\r\n"), []byte("\r\nContent-transfer-encoding: quoted-printable\r\n"), 1)
	if bytes.Equal(changed, message) {
		t.Fatal("the signed part has no Content-Transfer-Encoding header field to re-case")
	}

	opened, err := Open(bytes.NewReader(changed), nil, nil, pki.roots, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil {
		t.Errorf("Open verified a signed part whose header was changed")
	}
	if opened.SignerCertificate != nil {
		t.Errorf("Open names a signer for a bad signature")
	}

	path := writeMessage(t, t.TempDir(), changed)
	if _, err := openssl(t, "cms", "-verify", "-CAfile", pki.rootFile, "-in", path, "-out", filepath.Join(t.TempDir(), "out")); err == nil {
		t.Errorf("openssl cms -verify accepted a signed part whose header was changed")
	}
}

func TestSignRejectsInvalidEntity(t *testing.T) {
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP256, "alice@example.org")
	for name, entity := range map[string]string{
		"LF only":      strings.ReplaceAll(testEntity, "\r\n", "\n"),
		"bare CR":      "Content-Type: text/plain\r\n\r\nline\rmore\r\n",
		"8-bit":        "Content-Type: text/plain\r\n\r\nGrüße\r\n",
		"MIME-Version": "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello\r\n",
		"trailing":     "Content-Type: text/plain\r\n\r\nHello \r\n",
		"From line":    "Content-Type: text/plain\r\n\r\nFrom here\r\n",
		"long line":    "Content-Type: text/plain\r\n\r\n" + strings.Repeat("a", 999) + "\r\n",
	} {
		for _, opaque := range []bool{false, true} {
			err := Sign(io.Discard, signer, writeBytes(entity), &Options{Opaque: opaque})
			if err == nil {
				t.Errorf("%s (opaque %v): Sign accepted the entity", name, opaque)
			}
		}
	}
}

func TestSignRejectsUnsupportedKeys(t *testing.T) {
	pki := newTestPKI(t)
	ed25519Signer := pki.issue(t, kindEd25519, "alice@example.org")
	err := Sign(io.Discard, ed25519Signer, writeBytes(testEntity), nil)
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Sign with Ed25519 returned %v, want an unsupported key error", err)
	}

	mismatched := pki.issue(t, kindP256, "alice@example.org")
	mismatched.Key = testKey(t, kindP384)
	if err := Sign(io.Discard, mismatched, writeBytes(testEntity), nil); err == nil {
		t.Errorf("Sign accepted a key that does not match the certificate")
	}
	if err := Sign(io.Discard, &Signer{}, writeBytes(testEntity), nil); err == nil {
		t.Errorf("Sign accepted a signer without a certificate")
	}
}

func TestSignEncryptionKeyPreference(t *testing.T) {
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP256, "alice@example.org")
	encryption := pki.issue(t, kindRSA2048, "alice@example.org").Certificate
	signer.EncryptionCertificate = encryption

	signed, err := readSignedData(signedDataDER(t, sign(t, signer, testEntity, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var preference asn1.RawValue
	if err := signed.UnmarshalSignedAttribute(oidAttributeEncryptionPref, &preference); err != nil {
		t.Fatalf("no SMIMEEncryptionKeyPreference attribute: %v", err)
	}
	var sid issuerAndSerialNumber
	if _, err := asn1.UnmarshalWithParams(preference.FullBytes, &sid, "tag:0"); err != nil {
		t.Fatalf("failed to parse SMIMEEncryptionKeyPreference: %v", err)
	}
	if !bytes.Equal(sid.Issuer.FullBytes, encryption.RawIssuer) || sid.SerialNumber.Cmp(encryption.SerialNumber) != 0 {
		t.Errorf("SMIMEEncryptionKeyPreference names serial %v, want %v", sid.SerialNumber, encryption.SerialNumber)
	}

	signer.EncryptionCertificate = signer.Certificate
	signed, err = readSignedData(signedDataDER(t, sign(t, signer, testEntity, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.UnmarshalSignedAttribute(oidAttributeEncryptionPref, &preference); err == nil {
		t.Errorf("SMIMEEncryptionKeyPreference is present although the encryption certificate is the signing one")
	}
}

func TestOpenRejectsUntrustedSigners(t *testing.T) {
	pki := newTestPKI(t)
	message := sign(t, pki.issue(t, kindP256, "alice@example.org"), testEntity, nil)

	strangerKey := testKey(t, kindP384)
	template := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "stranger"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, template, template, strangerKey.Public(), strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := x509.ParseCertificate(der)
	strangerRoots := x509.NewCertPool()
	strangerRoots.AddCert(stranger)

	opened, err := Open(bytes.NewReader(message), nil, nil, strangerRoots, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil || opened.SignerCertificate != nil {
		t.Errorf("Open trusted a signer outside the roots: SignatureErr %v", opened.SignatureErr)
	}

	expired := &Options{Now: func() time.Time { return time.Now().Add(72 * time.Hour) }}
	opened, err = Open(bytes.NewReader(message), nil, nil, pki.roots, expired)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil {
		t.Errorf("Open accepted an expired signer certificate")
	}
}

func TestOpenRejectsWithoutEmailProtection(t *testing.T) {
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP256, "alice@example.org")
	template := *signer.Certificate
	template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, &template, pki.intermediate, signer.Key.Public(), pki.intermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	signer.Certificate, _ = x509.ParseCertificate(der)

	opened, err := Open(bytes.NewReader(sign(t, signer, testEntity, nil)), nil, nil, pki.roots, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil {
		t.Errorf("Open accepted a signer certificate without emailProtection")
	}
}

func TestOpenRejectsWrongMicalg(t *testing.T) {
	pki := newTestPKI(t)
	message := sign(t, pki.issue(t, kindP256, "alice@example.org"), testEntity, nil)
	changed := bytes.Replace(message, []byte("micalg=sha-256"), []byte("micalg=sha-512"), 1)

	opened, err := Open(bytes.NewReader(changed), nil, nil, pki.roots, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil {
		t.Errorf("Open accepted micalg sha-512 for a SHA-256 signature")
	}
}

func TestOpenRejectsOtherMessages(t *testing.T) {
	_, err := Open(strings.NewReader(testEntity), nil, nil, nil, nil)
	if !errors.Is(err, ErrNotSMIME) {
		t.Errorf("Open of a text part returned %v, want ErrNotSMIME", err)
	}

	pki := newTestPKI(t)
	opaque := sign(t, pki.issue(t, kindP256, "alice@example.org"), testEntity, &Options{Opaque: true})
	corrupted := bytes.Replace(opaque, []byte("MIIG"), []byte("MIIH"), 1)
	if _, err := Open(bytes.NewReader(corrupted), nil, nil, pki.roots, nil); err == nil {
		t.Errorf("Open accepted a corrupted SignedData")
	}
}

// TestSignStreamsDetached checks that a detached signature of a 20 MB
// entity does not hold the entity: the allocations stay far below its
// size.
func TestSignStreamsDetached(t *testing.T) {
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP256, "alice@example.org")
	const size = 20 << 20
	body := writeBase64Attachment(size)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := Sign(io.Discard, signer, body, nil); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)

	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 2<<20 {
		t.Errorf("Sign allocated %d bytes for a %d-byte entity, want less than 2 MiB", allocated, size)
	}
}
