package keyring

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"software.sslmate.com/src/go-pkcs12"
)

// x509Seeds returns certificate inputs for the fuzz targets: PEM, DER,
// certs-only PKCS#7 and PKCS#12 with the password "fuzz".
func x509Seeds(f *testing.F) [][]byte {
	f.Helper()
	der, keyDER := selfSignedCertificate(f)
	cert := mustParse(f, der)
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		f.Fatal(err)
	}
	p7c, err := pkcs7.DegenerateCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	modern, err := pkcs12.Modern.Encode(key, cert, nil, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	legacy, err := pkcs12.LegacyRC2.Encode(key, cert, nil, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{
		certPEM(der),
		der,
		p7c,
		pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7c}),
		modern,
		legacy,
		modern[:len(modern)/2],
	}
}

// checkAfterImport checks that what an import stored serves the readers.
func checkAfterImport(t *testing.T, k *Keyring) {
	ctx := context.Background()
	if _, err := k.List(ctx, time.Now()); err != nil {
		t.Fatalf("List after a successful import: %v", err)
	}
	if _, err := k.RecipientCertificate(ctx, "xena@example.org", time.Now(), CertPolicy{}); err == nil {
		return
	}
	if id, err := k.SMIMEIdentity(ctx, "xena@example.org", time.Now(), CertPolicy{}); err == nil {
		id.Locked()
		id.Unlock([]byte("fuzz"))
	}
}

func FuzzImportPKCS12(f *testing.F) {
	for _, seed := range x509Seeds(f) {
		f.Add(seed)
	}
	k, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	opts := ImportOptions{Password: func() ([]byte, error) { return []byte("fuzz"), nil }}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := k.ImportWithOptions(context.Background(), bytes.NewReader(data), opts); err != nil {
			return
		}
		checkAfterImport(t, k)
	})
}

func FuzzAddTrustAnchor(f *testing.F) {
	for _, seed := range x509Seeds(f) {
		f.Add(seed)
	}
	k, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := k.AddTrustAnchor(context.Background(), bytes.NewReader(data)); err != nil {
			return
		}
		if _, err := k.Anchors(context.Background(), CertPolicy{}); err != nil {
			t.Fatalf("Anchors after a successful AddTrustAnchor: %v", err)
		}
		checkAfterImport(t, k)
	})
}
