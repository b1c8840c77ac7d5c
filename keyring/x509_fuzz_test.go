package keyring

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
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

// crlFuzzCA returns a CA certificate and its key, and a certificate it
// issued with the CRL distribution point crlURL.
func crlFuzzCA(f *testing.F, crlURL string) (ca *x509.Certificate, caKey *ecdsa.PrivateKey, leaf *x509.Certificate) {
	f.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Fuzz CA"},
		NotBefore:             start,
		NotAfter:              start.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		f.Fatal(err)
	}
	ca = mustParse(f, caDER)

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(4242),
		Subject:               pkix.Name{CommonName: "Fuzz Leaf"},
		NotBefore:             start,
		NotAfter:              start.Add(365 * 24 * time.Hour),
		CRLDistributionPoints: []string{crlURL},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		f.Fatal(err)
	}
	return ca, caKey, mustParse(f, leafDER)
}

// FuzzCachedCRL feeds a cached CRL file to the revocation check, which
// parses and verifies it with verifyCRL.
func FuzzCachedCRL(f *testing.F) {
	const crlURL = "http://127.0.0.1:1/fuzz.crl"
	ca, caKey, leaf := crlFuzzCA(f, crlURL)
	now := time.Unix(1700000000, 0).Add(24 * time.Hour)

	makeCRL := func(entries []x509.RevocationListEntry, extensions []pkix.Extension) []byte {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number:                    big.NewInt(7),
			ThisUpdate:                now.Add(-time.Hour),
			NextUpdate:                now.Add(time.Hour),
			RevokedCertificateEntries: entries,
			ExtraExtensions:           extensions,
		}, ca, caKey)
		if err != nil {
			f.Fatal(err)
		}
		return der
	}
	revoked := []x509.RevocationListEntry{{SerialNumber: leaf.SerialNumber, RevocationTime: now.Add(-2 * time.Hour), ReasonCode: 1}}
	deltaIndicator := []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: []byte{2, 1, 6}}}
	empty := makeCRL(nil, nil)
	f.Add(empty)
	f.Add(makeCRL(revoked, nil))
	f.Add(makeCRL(nil, deltaIndicator))
	f.Add(empty[:len(empty)/2])

	k, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := k.writeCachedCRL(crlURL, data); err != nil {
			t.Fatal(err)
		}
		checker := newRevocationChecker(k, CertPolicy{Offline: true, RequireRevocationCheck: true})
		err := checker.checkCertificate(context.Background(), leaf, ca, now)

		var revocation *revocationError
		if err != nil && !errors.As(err, &revocation) {
			t.Fatalf("checkCertificate returned %v, want nil or a *revocationError", err)
		}
		if err == nil || revocation.status == StatusRevoked {
			// Only a CRL of the CA can decide.
			crl, err := verifyCRL(data, ca, now)
			if err != nil {
				t.Fatalf("a CRL decided the check, but verifyCRL rejects it: %v", err)
			}
			if crl.CheckSignatureFrom(ca) != nil {
				t.Fatal("a CRL without a valid signature of the CA decided the check")
			}
		}
	})
}
