package keyring

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/peers"
)

// selfSignedCertificate returns a DER X.509 certificate and its PKCS#8 key.
func selfSignedCertificate(t *testing.T) (cert, key []byte) {
	t.Helper()
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:   big.NewInt(1),
		Subject:        pkix.Name{CommonName: "Xena"},
		EmailAddresses: []string{"xena@example.org"},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
	}
	cert, err = x509.CreateCertificate(rand.Reader, template, template, &private.PublicKey, private)
	if err != nil {
		t.Fatal(err)
	}
	key, err = x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestImportX509Unsupported(t *testing.T) {
	cert, key := selfSignedCertificate(t)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	// A BER SEQUENCE of indefinite length holding INTEGER 3, as the start of
	// a PKCS#12 PFX from an older writer.
	indefinite := []byte{0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00}

	tests := []struct {
		name  string
		input []byte
	}{
		{"PEM certificate", certPEM},
		{"PEM certificate after text", append([]byte("Subject: Xena\n\n"), certPEM...)},
		{"PEM key and certificate", append(bytes.Clone(keyPEM), certPEM...)},
		{"DER certificate", cert},
		{"DER certificate with newline", append(bytes.Clone(cert), '\n')},
		{"BER indefinite length", indefinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := openTemp(t)
			_, err := k.Import(context.Background(), bytes.NewReader(tt.input))
			if !errors.Is(err, ErrX509Unsupported) {
				t.Errorf("Import error = %v, want ErrX509Unsupported", err)
			}
		})
	}
}

func TestImportPKCS12Unsupported(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	cert, key := selfSignedCertificate(t)
	dir := t.TempDir()
	certPath := filepath.Join(dir, "cert.pem")
	keyPath := filepath.Join(dir, "key.pem")
	bundlePath := filepath.Join(dir, "bundle.p12")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs12", "-export", "-in", certPath, "-inkey", keyPath,
		"-out", bundlePath, "-passout", "pass:test").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, out)
	}
	bundle, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}

	k := openTemp(t)
	_, err = k.Import(context.Background(), bytes.NewReader(bundle))
	if !errors.Is(err, ErrX509Unsupported) {
		t.Errorf("Import error = %v, want ErrX509Unsupported", err)
	}
}

func TestIsDERRejectsNearMisses(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
	}{
		{"text starting with 0", []byte("0 keys found\n")},
		{"length past the end", []byte{0x30, 0x10, 0x02, 0x01, 0x03}},
		{"data after the sequence", []byte{0x30, 0x03, 0x02, 0x01, 0x03, 0xff}},
		{"unexpected inner tag", []byte{0x30, 0x03, 0x04, 0x01, 0x03}},
		{"indefinite without end", []byte{0x30, 0x80, 0x02, 0x01, 0x03}},
	}
	for _, tt := range tests {
		if isDER(tt.input) {
			t.Errorf("isDER(%s) = true", tt.name)
		}
	}
}
