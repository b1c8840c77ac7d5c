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
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSignedCertificate returns a DER X.509 certificate and its PKCS#8 key.
func selfSignedCertificate(t testing.TB) (cert, key []byte) {
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

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestImportX509Forms(t *testing.T) {
	cert, _ := selfSignedCertificate(t)
	// OpenSSL's "TRUSTED CERTIFICATE" is the certificate followed by its
	// trust settings, here an empty SEQUENCE.
	trusted := pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: append(bytes.Clone(cert), 0x30, 0x00)})

	tests := []struct {
		name  string
		input []byte
	}{
		{"PEM certificate", certPEM(cert)},
		{"PEM certificate after text", append([]byte("Subject: Xena\n\n"), certPEM(cert)...)},
		{"PEM trusted certificate", trusted},
		{"DER certificate", cert},
		{"DER certificate with newline", append(bytes.Clone(cert), '\n')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := openTemp(t)
			imported, err := k.Import(context.Background(), bytes.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if len(imported) != 1 {
				t.Fatalf("Import returned %d entries, want 1", len(imported))
			}
			sum := certFingerprint(mustParse(t, cert))
			if imported[0].Fingerprint != sum {
				t.Errorf("Fingerprint = %s, want %s", imported[0].Fingerprint, sum)
			}
			if imported[0].Kind != KindX509 {
				t.Errorf("Kind = %q, want %q", imported[0].Kind, KindX509)
			}
			stored := readFile(t, filepath.Join(k.dir, "x509", sum[:2], sum[2:]))
			if !bytes.Equal(stored, cert) {
				t.Error("the stored file is not the DER certificate")
			}
		})
	}
}

func TestImportX509Rejects(t *testing.T) {
	cert, key := selfSignedCertificate(t)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x00}})
	// A BER SEQUENCE of indefinite length holding INTEGER 3, as the start of
	// a PKCS#12 PFX from an older writer.
	indefinite := []byte{0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00}

	tests := []struct {
		name  string
		input []byte
		want  error  // wrapped by the error, or nil
		text  string // in the message
	}{
		{"PEM key and certificate", append(bytes.Clone(keyPEM), certPEM(cert)...), nil, "openssl pkcs12 -export"},
		{"certificate request", csr, ErrX509Unsupported, "requests"},
		{"PKCS#12 without password", indefinite, ErrPasswordNeeded, "password"},
		{"truncated PEM", certPEM(cert)[:100], nil, "truncated"},
		{"PEM mixed with OpenPGP", append(certPEM(cert), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n"...), nil, "mixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := openTemp(t)
			_, err := k.Import(context.Background(), bytes.NewReader(tt.input))
			if err == nil {
				t.Fatal("Import succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Import error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Import error = %v, want it to contain %q", err, tt.text)
			}
			if entries, _ := k.List(context.Background(), time.Now()); len(entries) != 0 {
				t.Errorf("List after a failed import has %d entries, want 0", len(entries))
			}
		})
	}
}

func TestImportCertificateChain(t *testing.T) {
	ca := newTestCA(t)
	leafPath, _ := ca.issue(leafSpec("alice", "alice@example.org", "rsa:2048"))
	leaf := readPEMCertificate(t, leafPath)
	chainPEM := append(readFile(t, leafPath), readFile(t, ca.interPEM)...)

	ca.run("crl2pkcs7", "-nocrl", "-certfile", leafPath, "-certfile", ca.interPEM, "-out", ca.path("chain.p7c"), "-outform", "DER")
	ca.run("crl2pkcs7", "-nocrl", "-certfile", leafPath, "-certfile", ca.interPEM, "-out", ca.path("chain.p7b"))
	ca.run("x509", "-in", leafPath, "-outform", "DER", "-out", ca.path("alice.der"))

	tests := []struct {
		name  string
		input []byte
		count int
	}{
		{"PEM chain", chainPEM, 2},
		{"DER", readFile(t, ca.path("alice.der")), 1},
		{"PKCS#7 DER", readFile(t, ca.path("chain.p7c")), 2},
		{"PKCS#7 PEM", readFile(t, ca.path("chain.p7b")), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := openTemp(t)
			imported := importBytes(t, k, tt.input)
			if len(imported) != tt.count {
				t.Fatalf("Import returned %d entries, want %d", len(imported), tt.count)
			}
			if imported[0].Fingerprint != certFingerprint(leaf) {
				t.Errorf("first Fingerprint = %s, want the leaf %s", imported[0].Fingerprint, certFingerprint(leaf))
			}
			if want := []string{"alice", "alice@example.org"}; strings.Join(imported[0].UserIDs, ",") != strings.Join(want, ",") {
				t.Errorf("UserIDs = %q, want %q", imported[0].UserIDs, want)
			}
			if imported[0].Secret {
				t.Error("Secret is set for a certificate without a key")
			}

			again := importBytes(t, k, tt.input)
			if !again[0].Updated {
				t.Error("a second import does not report Updated")
			}
			if !again[0].Unchanged {
				t.Error("a second import of the same certificates does not report Unchanged")
			}
		})
	}
}

func TestImportPKCS12(t *testing.T) {
	ca := newTestCA(t)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "ec:P-256"))
	leaf := readPEMCertificate(t, certPath)
	fpr := certFingerprint(leaf)

	for _, legacy := range []bool{false, true} {
		name := "OpenSSL 3 defaults"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			bundle := ca.pkcs12(certPath, keyPath, "s3cret", legacy)
			k := openTemp(t)
			imported, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
				ImportOptions{Password: func() ([]byte, error) { return []byte("s3cret"), nil }})
			if err != nil {
				t.Fatalf("ImportWithOptions: %v", err)
			}
			if len(imported) != 2 {
				t.Fatalf("imported %d certificates, want the leaf and the intermediate", len(imported))
			}
			if imported[0].Fingerprint != fpr || !imported[0].Secret {
				t.Errorf("imported[0] = %+v, want the leaf %s with Secret", imported[0], fpr)
			}
			if imported[1].Secret {
				t.Error("the intermediate CA has Secret set")
			}

			path := filepath.Join(k.dir, "secret", fpr+".p12")
			stored := readFile(t, path)
			if !bytes.Equal(stored, bundle) {
				t.Error("the stored bundle is not the bundle as given")
			}
			checkMode(t, path, 0o600)
			checkMode(t, filepath.Join(k.dir, "secret"), 0o700)

			again, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
				ImportOptions{Password: func() ([]byte, error) { return []byte("s3cret"), nil }})
			if err != nil {
				t.Fatalf("second ImportWithOptions: %v", err)
			}
			if !again[0].Unchanged || !again[0].Secret {
				t.Errorf("second import = %+v, want the leaf unchanged with Secret", again[0])
			}

			// A bundle of the same key and certificate with other
			// encryption is stored anew.
			other := ca.pkcs12(certPath, keyPath, "0ther", legacy)
			again, err = k.ImportWithOptions(context.Background(), bytes.NewReader(other),
				ImportOptions{Password: func() ([]byte, error) { return []byte("0ther"), nil }})
			if err != nil {
				t.Fatalf("third ImportWithOptions: %v", err)
			}
			if again[0].Unchanged || !bytes.Equal(readFile(t, path), other) {
				t.Errorf("import of a new bundle = %+v, want the leaf updated and the new bundle stored", again[0])
			}
		})
	}
}

func TestImportPKCS12Password(t *testing.T) {
	ca := newTestCA(t)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "rsa:2048"))
	bundle := ca.pkcs12(certPath, keyPath, "s3cret", false)

	t.Run("wrong password", func(t *testing.T) {
		k := openTemp(t)
		_, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
			ImportOptions{Password: func() ([]byte, error) { return []byte("wrong"), nil }})
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("ImportWithOptions error = %v, want ErrWrongPassphrase", err)
		}
		if strings.Contains(err.Error(), "wrong\"") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error contains a password: %v", err)
		}
		if entries, _ := k.List(context.Background(), time.Now()); len(entries) != 0 {
			t.Errorf("List has %d entries after a wrong password, want 0", len(entries))
		}
	})
	t.Run("no password function", func(t *testing.T) {
		k := openTemp(t)
		_, err := k.Import(context.Background(), bytes.NewReader(bundle))
		if !errors.Is(err, ErrPasswordNeeded) {
			t.Errorf("Import error = %v, want ErrPasswordNeeded", err)
		}
	})
	t.Run("password function fails", func(t *testing.T) {
		k := openTemp(t)
		cancelled := errors.New("prompt cancelled")
		_, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
			ImportOptions{Password: func() ([]byte, error) { return nil, cancelled }})
		if !errors.Is(err, cancelled) {
			t.Errorf("ImportWithOptions error = %v, want the error of the password function", err)
		}
	})
	t.Run("not called for certificates", func(t *testing.T) {
		k := openTemp(t)
		_, err := k.ImportWithOptions(context.Background(), bytes.NewReader(readFile(t, certPath)),
			ImportOptions{Password: func() ([]byte, error) { t.Error("Password called"); return nil, nil }})
		if err != nil {
			t.Fatal(err)
		}
	})
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

func mustParse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
