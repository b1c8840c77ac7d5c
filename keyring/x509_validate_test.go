package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestRecipientCertificateKeyTypes(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)

	for _, key := range []string{"rsa:2048", "rsa:3072", "rsa:4096", "ec:P-256", "ec:P-384"} {
		t.Run(key, func(t *testing.T) {
			name := strings.NewReplacer(":", "", "-", "").Replace(key)
			address := name + "@example.org"
			certPath, _ := ca.issue(leafSpec(name, address, key))
			importBytes(t, k, readFile(t, certPath))

			// The address is matched without regard to case.
			cert, err := k.RecipientCertificate(context.Background(), strings.ToUpper(address), time.Now(), CertPolicy{})
			if err != nil {
				t.Fatalf("RecipientCertificate: %v", err)
			}
			if want := readPEMCertificate(t, certPath); !cert.Equal(want) {
				t.Errorf("RecipientCertificate returned %q, want %q", cert.Subject, want.Subject)
			}
		})
	}
}

func TestRecipientCertificateNewest(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)

	older := leafSpec("older", "alice@example.org", "ec:P-256")
	older.startDate = time.Now().Add(-48 * time.Hour).UTC().Format("20060102150405Z")
	newer := leafSpec("newer", "alice@example.org", "ec:P-256")
	newer.startDate = time.Now().Add(-24 * time.Hour).UTC().Format("20060102150405Z")
	expired := leafSpec("expired", "alice@example.org", "ec:P-256")
	expired.startDate, expired.endDate = time.Now().Add(-time.Hour).UTC().Format("20060102150405Z"), "20210101000000Z"
	for _, spec := range []certSpec{older, newer, expired} {
		certPath, _ := ca.issue(spec)
		importBytes(t, k, readFile(t, certPath))
	}

	cert, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	if err != nil {
		t.Fatalf("RecipientCertificate: %v", err)
	}
	if cert.Subject.CommonName != "newer" {
		t.Errorf("RecipientCertificate returned %q, want the newest valid certificate", cert.Subject.CommonName)
	}
}

func TestRecipientCertificateFailures(t *testing.T) {
	ca := newTestCA(t)

	expired := leafSpec("expired", "expired@example.org", "rsa:2048")
	expired.startDate, expired.endDate = "20200101000000Z", "20210101000000Z"
	future := leafSpec("future", "future@example.org", "rsa:2048")
	future.startDate, future.endDate = "20990101000000Z", "20991231000000Z"
	server := leafSpec("server", "server@example.org", "rsa:2048")
	server.extKeyUsage = "serverAuth"
	signOnly := leafSpec("signonly", "signonly@example.org", "rsa:2048")
	signOnly.keyUsage = "digitalSignature"
	ecSignOnly := leafSpec("ecsignonly", "ecsignonly@example.org", "ec:P-256")
	ecSignOnly.keyUsage = "digitalSignature"
	// The address is in the subject's emailAddress attribute only, while
	// subjectAltName names another one.
	subjectOnly := leafSpec("subjectonly", "other@example.org", "rsa:2048")
	subjectOnly.subject = "/CN=subjectonly/emailAddress=subject@example.org"
	weak := leafSpec("weak", "weak@example.org", "rsa:1024")
	edwards := leafSpec("edwards", "edwards@example.org", "ed25519")
	edwards.keyUsage = "digitalSignature"
	p521 := leafSpec("p521", "p521@example.org", "ec:P-521")

	tests := []struct {
		spec    certSpec
		address string
		want    Status
	}{
		{expired, "expired@example.org", StatusExpired},
		{future, "future@example.org", StatusNotYetValid},
		{server, "server@example.org", StatusNoEmailProtection},
		{signOnly, "signonly@example.org", StatusWrongKeyUsage},
		{ecSignOnly, "ecsignonly@example.org", StatusWrongKeyUsage},
		{subjectOnly, "subject@example.org", StatusAddressMismatch},
		{weak, "weak@example.org", StatusWeak},
		{edwards, "edwards@example.org", StatusUnsupported},
		{p521, "p521@example.org", StatusUnsupported},
	}
	for _, tt := range tests {
		t.Run(string(tt.want)+" "+tt.spec.name, func(t *testing.T) {
			k := openTemp(t)
			trustTestCA(t, k, ca)
			certPath, _ := ca.issue(tt.spec)
			importBytes(t, k, readFile(t, certPath))
			fpr := certFingerprint(readPEMCertificate(t, certPath))

			_, err := k.RecipientCertificate(context.Background(), tt.address, time.Now(), CertPolicy{})
			var certErr *CertError
			if !errors.As(err, &certErr) {
				t.Fatalf("RecipientCertificate error = %v, want a *CertError", err)
			}
			if certErr.Status != tt.want {
				t.Errorf("Status = %q, want %q (%v)", certErr.Status, tt.want, err)
			}
			if certErr.Fingerprint != fpr {
				t.Errorf("Fingerprint = %s, want %s", certErr.Fingerprint, fpr)
			}
			for _, part := range []string{tt.address, fpr, "CN=" + tt.spec.name} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %q", err, part)
				}
			}
		})
	}
}

func TestRecipientCertificateUntrusted(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	// The intermediate CA is stored, but the root is no trust anchor.
	importBytes(t, k, readFile(t, ca.interPEM))
	certPath, _ := ca.issue(leafSpec("alice", "alice@example.org", "rsa:2048"))
	importBytes(t, k, readFile(t, certPath))

	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	var certErr *CertError
	if !errors.As(err, &certErr) || certErr.Status != StatusUntrusted {
		t.Fatalf("RecipientCertificate error = %v, want a *CertError of status %q", err, StatusUntrusted)
	}
	// The system's TLS roots do not include the test root either.
	_, err = k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{SystemRoots: true})
	if !errors.As(err, &certErr) || certErr.Status != StatusUntrusted {
		t.Errorf("with SystemRoots, error = %v, want status %q", err, StatusUntrusted)
	}

	if _, err := k.AddTrustAnchor(context.Background(), bytes.NewReader(readFile(t, ca.rootPEM))); err != nil {
		t.Fatal(err)
	}
	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{}); err != nil {
		t.Errorf("RecipientCertificate after AddTrustAnchor: %v", err)
	}
	anchors, err := k.Anchors(context.Background(), CertPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readPEMCertificate(t, certPath).Verify(verifyOptions(anchors, ca)); err != nil {
		t.Errorf("the pool of Anchors does not verify the chain: %v", err)
	}
}

func TestRecipientCertificateNotFound(t *testing.T) {
	k := openTemp(t)
	_, err := k.RecipientCertificate(context.Background(), "nobody@example.org", time.Now(), CertPolicy{})
	var lookup *LookupError
	if !errors.As(err, &lookup) || !errors.Is(err, ErrNotFound) {
		t.Errorf("RecipientCertificate error = %v, want a *LookupError wrapping ErrNotFound", err)
	}
}

func TestSMIMEIdentity(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "ec:P-256"))
	bundle := ca.pkcs12(certPath, keyPath, "s3cret", false)
	if _, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
		ImportOptions{Password: func() ([]byte, error) { return []byte("s3cret"), nil }}); err != nil {
		t.Fatal(err)
	}

	id, err := k.SMIMEIdentity(context.Background(), "Alice@example.org", time.Now(), CertPolicy{})
	if err != nil {
		t.Fatalf("SMIMEIdentity: %v", err)
	}
	if !id.Certificate.Equal(readPEMCertificate(t, certPath)) {
		t.Errorf("Certificate = %q, want alice", id.Certificate.Subject)
	}
	if len(id.Chain) != 1 || !id.Chain[0].Equal(ca.intermediate) {
		t.Errorf("Chain has %d certificates, want the intermediate CA only", len(id.Chain))
	}
	if !id.Locked() {
		t.Error("Locked = false for a bundle with a password")
	}

	if _, err := id.Unlock([]byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Unlock with a wrong password: error = %v, want ErrWrongPassphrase", err)
	}
	key, err := id.Unlock([]byte("s3cret"))
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(id.Certificate.PublicKey) {
		t.Error("the unlocked key does not match the certificate")
	}
}

func TestSMIMEIdentityEmptyPassword(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "rsa:2048"))
	bundle := ca.pkcs12(certPath, keyPath, "", false)
	if _, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
		ImportOptions{Password: func() ([]byte, error) { return nil, nil }}); err != nil {
		t.Fatal(err)
	}

	id, err := k.SMIMEIdentity(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if id.Locked() {
		t.Error("Locked = true for a bundle with the empty password")
	}
	if _, err := id.Unlock(nil); err != nil {
		t.Errorf("Unlock(nil): %v", err)
	}
}

func TestSMIMEIdentityRefusesOtherAddress(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "rsa:2048"))
	if _, err := k.ImportWithOptions(context.Background(), bytes.NewReader(ca.pkcs12(certPath, keyPath, "pw", false)),
		ImportOptions{Password: func() ([]byte, error) { return []byte("pw"), nil }}); err != nil {
		t.Fatal(err)
	}
	// A certificate of bob without a key is no identity of the user.
	bobPath, _ := ca.issue(leafSpec("bob", "bob@example.org", "rsa:2048"))
	importBytes(t, k, readFile(t, bobPath))

	_, err := k.SMIMEIdentity(context.Background(), "bob@example.org", time.Now(), CertPolicy{})
	var certErr *CertError
	if !errors.As(err, &certErr) || certErr.Status != StatusAddressMismatch {
		t.Fatalf("SMIMEIdentity error = %v, want a *CertError of status %q", err, StatusAddressMismatch)
	}
	fpr := certFingerprint(readPEMCertificate(t, certPath))
	for _, part := range []string{"bob@example.org", fpr, "alice@example.org"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}

	empty := openTemp(t)
	_, err = empty.SMIMEIdentity(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("SMIMEIdentity without identities: error = %v, want ErrNotFound", err)
	}
}

func TestRecipientCertificateRefusesCA(t *testing.T) {
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(rootDER)

	// A CA certificate that otherwise looks like an S/MIME certificate.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	list := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "List CA"},
		EmailAddresses: []string{"list@example.org"},
		NotBefore:      now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		BasicConstraintsValid: true, IsCA: true,
	}
	listDER, err := x509.CreateCertificate(rand.Reader, list, root, caKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}

	k := openTemp(t)
	ctx := context.Background()
	if _, err := k.AddTrustAnchor(ctx, bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}))); err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: listDER}))

	_, err = k.RecipientCertificate(ctx, "list@example.org", now, CertPolicy{})
	var certErr *CertError
	if !errors.As(err, &certErr) || certErr.Status != StatusCA {
		t.Fatalf("RecipientCertificate = %v, want a *CertError with status %q", err, StatusCA)
	}
	if !strings.Contains(err.Error(), "is a CA certificate") {
		t.Errorf("error %q does not say the certificate is a CA certificate", err)
	}
}
