package cms

import (
	"crypto"
	"crypto/ecdsa"
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

// testRecipient is a self-signed recipient certificate, its key, and both
// as PEM files for openssl.
type testRecipient struct {
	name     string
	cert     *x509.Certificate
	key      crypto.Signer
	certFile string
	keyFile  string
}

// recipientKinds are the keys of the recipients that every cipher is tested
// with.
var recipientKinds = []string{"rsa2048", "rsa3072", "rsa4096", "p256", "p384"}

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]crypto.Signer{}
)

// testKey returns a key of kind, generated once per test binary because RSA
// 4096 takes seconds.
func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if key, ok := keyCache[kind]; ok {
		return key
	}

	var key crypto.Signer
	var err error
	switch kind {
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "rsa4096":
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case "p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatalf("failed to generate a %s key: %v", kind, err)
	}
	keyCache[kind] = key
	return key
}

// newRecipient makes a self-signed certificate for a key of kind and writes
// both to dir.
func newRecipient(t testing.TB, dir, kind string) *testRecipient {
	t.Helper()
	key := testKey(t, kind)
	cert := selfSign(t, kind, key.Public(), key)
	r := &testRecipient{
		name:     kind,
		cert:     cert,
		key:      key,
		certFile: filepath.Join(dir, kind+"-"+cert.SerialNumber.Text(16)+".pem"),
		keyFile:  filepath.Join(dir, kind+"-"+cert.SerialNumber.Text(16)+".key"),
	}
	writePEM(t, r.certFile, "CERTIFICATE", cert.Raw)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("failed to encode the %s key: %v", kind, err)
	}
	writePEM(t, r.keyFile, "PRIVATE KEY", der)
	return r
}

// selfSign returns a certificate for pub signed by signer, with a random
// serial number and a subject key identifier.
func selfSign(t testing.TB, name string, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	keyID := make([]byte, 20)
	if _, err := rand.Read(keyID); err != nil {
		t.Fatal(err)
	}
	usage := x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		usage = x509.KeyUsageKeyAgreement | x509.KeyUsageDigitalSignature
	}
	template := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: "cms test " + name},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(24 * time.Hour),
		KeyUsage:       usage,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses: []string{name + "@example.com"},
		SubjectKeyId:   keyID,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, pub, signer)
	if err != nil {
		t.Fatalf("failed to create the %s certificate: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("failed to parse the %s certificate: %v", name, err)
	}
	return cert
}

func writePEM(t testing.TB, path, blockType string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("failed to write %s: %v", path, err)
	}
}
