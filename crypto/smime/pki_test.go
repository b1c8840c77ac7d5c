package smime

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// keyKind names a signer key type of the tests.
type keyKind string

const (
	kindRSA2048 keyKind = "rsa2048"
	kindRSA3072 keyKind = "rsa3072"
	kindRSA4096 keyKind = "rsa4096"
	kindP256    keyKind = "p256"
	kindP384    keyKind = "p384"
	kindP521    keyKind = "p521"
	kindEd25519 keyKind = "ed25519"
)

// signerKinds are the signer keys every interoperability test covers.
var signerKinds = []keyKind{kindRSA2048, kindRSA3072, kindRSA4096, kindP256, kindP384}

var (
	keyCacheMu sync.Mutex
	keyCache   = map[keyKind]crypto.Signer{}
)

// testKey returns a key of kind, generated once per test binary because
// RSA 4096 takes seconds.
func testKey(tb testing.TB, kind keyKind) crypto.Signer {
	tb.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if key, ok := keyCache[kind]; ok {
		return key
	}

	var key crypto.Signer
	var err error
	switch kind {
	case kindRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case kindRSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case kindRSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case kindP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case kindP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case kindP521:
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case kindEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		tb.Fatalf("failed to generate a %s key: %v", kind, err)
	}
	keyCache[kind] = key
	return key
}

// testPKI is a root CA, an intermediate CA and the files openssl and gpgsm
// read.
type testPKI struct {
	root, intermediate       *x509.Certificate
	rootKey, intermediateKey crypto.Signer
	// rootFile is the root certificate in PEM.
	rootFile string
	roots    *x509.CertPool
}

var (
	pkiOnce   sync.Once
	sharedPKI *testPKI
	pkiErr    error
	serial    int64 = 1000
	serialMu  sync.Mutex
)

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial++
	return big.NewInt(serial)
}

// newTestPKI returns the CA of the test binary, made once.
func newTestPKI(tb testing.TB) *testPKI {
	tb.Helper()
	pkiOnce.Do(func() { sharedPKI, pkiErr = makePKI() })
	if pkiErr != nil {
		tb.Fatalf("failed to make the test CA: %v", pkiErr)
	}
	return sharedPKI
}

func makePKI() (*testPKI, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Add(-time.Hour)
	rootTemplate := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: "sealmail test root", Organization: []string{"sealmail tests"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTemplate, rootTemplate, rootKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}

	intermediateKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	intermediateTemplate := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: "sealmail test intermediate", Organization: []string{"sealmail tests"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	intermediateDER, err := x509.CreateCertificate(rand.Reader, intermediateTemplate, root, intermediateKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	intermediate, err := x509.ParseCertificate(intermediateDER)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "smime-pki")
	if err != nil {
		return nil, err
	}
	rootFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o644); err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return &testPKI{
		root:            root,
		intermediate:    intermediate,
		rootKey:         rootKey,
		intermediateKey: intermediateKey,
		rootFile:        rootFile,
		roots:           roots,
	}, nil
}

// issue returns a signer for address with a key of kind, issued by the
// intermediate CA, whose chain holds the intermediate and the root.
func (p *testPKI) issue(tb testing.TB, kind keyKind, address string) *Signer {
	tb.Helper()
	key := testKey(tb, kind)
	usage := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		usage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement
	}
	template := &x509.Certificate{
		SerialNumber:   nextSerial(),
		Subject:        pkix.Name{CommonName: address, Organization: []string{"sealmail tests"}},
		EmailAddresses: []string{address},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(24 * time.Hour),
		KeyUsage:       usage,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, p.intermediate, key.Public(), p.intermediateKey)
	if err != nil {
		tb.Fatalf("failed to issue a %s certificate for %s: %v", kind, address, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &Signer{Certificate: cert, Chain: []*x509.Certificate{p.intermediate, p.root}, Key: key}
}

// writePEM writes certificates to a PEM file in dir and returns its path.
func writePEM(tb testing.TB, dir, name string, certs ...*x509.Certificate) string {
	tb.Helper()
	var data []byte
	for _, cert := range certs {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
