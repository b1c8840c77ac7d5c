package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealmail/sealmail/crypto/cms"
	"github.com/sealmail/sealmail/internal/peers"
)

// writeKeyPEM writes a signer's key and certificates as openssl reads them.
func writeKeyPEM(t *testing.T, dir string, signer *Signer) (certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "cert.pem", signer.Certificate), keyFile
}

// TestOpenOpenSSLSigned opens what openssl cms -sign writes: detached and
// opaque, in DER and in streamed BER.
func TestOpenOpenSSLSigned(t *testing.T) {
	peers.Require(t, "openssl")
	pki := newTestPKI(t)
	for _, kind := range []keyKind{kindRSA2048, kindP256, kindP384} {
		signer := pki.issue(t, kind, "alice@example.org")
		dir := t.TempDir()
		certFile, keyFile := writeKeyPEM(t, dir, signer)
		chainFile := writePEM(t, dir, "chain.pem", pki.intermediate)
		entityFile := filepath.Join(dir, "entity")
		if err := os.WriteFile(entityFile, []byte(testEntity), 0o600); err != nil {
			t.Fatal(err)
		}

		for name, extra := range map[string][]string{
			"detached":        nil,
			"detached-stream": {"-stream"},
			"opaque":          {"-nodetach"},
			"opaque-stream":   {"-nodetach", "-stream"},
		} {
			t.Run(string(kind)+"/"+name, func(t *testing.T) {
				args := append([]string{"cms", "-sign", "-binary", "-md", "sha256", "-signer", certFile, "-inkey", keyFile,
					"-certfile", chainFile, "-in", entityFile}, extra...)
				message, err := openssl(t, args...)
				if err != nil {
					t.Fatalf("openssl cms -sign failed: %v", err)
				}

				opened, err := Open(bytes.NewReader(message), nil, nil, pki.roots, nil)
				if err != nil {
					t.Fatalf("Open failed: %v", err)
				}
				if opened.SignatureErr != nil || !opened.SignerCertificate.Equal(signer.Certificate) {
					t.Errorf("Open reports signer %v, error %v", opened.SignerCertificate, opened.SignatureErr)
				}
				if string(opened.Entity) != testEntity {
					t.Errorf("Open returned entity %q, want %q", opened.Entity, testEntity)
				}
			})
		}
	}
}

// TestOpenOpenSSLEncrypted opens a message that openssl signed and then
// encrypted, with RSA and ECDH recipients.
func TestOpenOpenSSLEncrypted(t *testing.T) {
	peers.Require(t, "openssl")
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP256, "alice@example.org")
	for _, kind := range []keyKind{kindRSA2048, kindP384} {
		t.Run(string(kind), func(t *testing.T) {
			recipient := pki.issue(t, kind, "bob@example.org")
			dir := t.TempDir()
			signerCert, signerKey := writeKeyPEM(t, dir, signer)
			recipientCert := writePEM(t, dir, "recipient.pem", recipient.Certificate)
			entityFile := filepath.Join(dir, "entity")
			if err := os.WriteFile(entityFile, []byte(testEntity), 0o600); err != nil {
				t.Fatal(err)
			}
			signed, err := openssl(t, "cms", "-sign", "-binary", "-signer", signerCert, "-inkey", signerKey,
				"-certfile", writePEM(t, dir, "chain.pem", pki.intermediate), "-in", entityFile)
			if err != nil {
				t.Fatal(err)
			}
			signedFile := filepath.Join(dir, "signed")
			if err := os.WriteFile(signedFile, signed, 0o600); err != nil {
				t.Fatal(err)
			}
			message, err := openssl(t, "cms", "-encrypt", "-binary", "-aes256", "-in", signedFile, recipientCert)
			if err != nil {
				t.Fatal(err)
			}

			opened, err := Open(bytes.NewReader(message), recipient.Certificate, recipient.Key, pki.roots, nil)
			if err != nil {
				t.Fatalf("Open failed: %v", err)
			}
			if !opened.Encrypted || !opened.Signed || opened.SignatureErr != nil {
				t.Errorf("Open reports Encrypted %v, Signed %v, SignatureErr %v; want encrypted with a good signature",
					opened.Encrypted, opened.Signed, opened.SignatureErr)
			}
			if string(opened.Entity) != testEntity {
				t.Errorf("Open returned entity %q, want %q", opened.Entity, testEntity)
			}
		})
	}
}

// TestOpenEncryptRoundTrip opens what Encrypt writes, signed and not.
func TestOpenEncryptRoundTrip(t *testing.T) {
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP384, "alice@example.org")
	recipient := pki.issue(t, kindRSA2048, "bob@example.org")
	for _, cipher := range []cms.ContentCipher{cms.AES256CBC, cms.AES128GCM} {
		for _, withSigner := range []*Signer{nil, signer} {
			var out bytes.Buffer
			err := Encrypt(&out, []*x509.Certificate{recipient.Certificate}, withSigner, writeBytes(testEntity), &Options{Cipher: cipher})
			if err != nil {
				t.Fatalf("Encrypt failed: %v", err)
			}

			opened, err := Open(&out, recipient.Certificate, recipient.Key, pki.roots, nil)
			if err != nil {
				t.Fatalf("cipher %d, signed %v: Open failed: %v", cipher, withSigner != nil, err)
			}
			if !opened.Encrypted || opened.Signed != (withSigner != nil) || opened.SignatureErr != nil {
				t.Errorf("cipher %d: Open reports Encrypted %v, Signed %v, SignatureErr %v", cipher, opened.Encrypted, opened.Signed, opened.SignatureErr)
			}
			if string(opened.Entity) != testEntity {
				t.Errorf("cipher %d: Open returned entity %q, want %q", cipher, opened.Entity, testEntity)
			}
		}
	}

	var out bytes.Buffer
	if err := Encrypt(&out, []*x509.Certificate{recipient.Certificate}, nil, writeBytes(testEntity), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(io.Reader(&out), nil, nil, pki.roots, nil); err == nil {
		t.Errorf("Open without a key returned no error for an encrypted message")
	}
}
