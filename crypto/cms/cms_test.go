package cms

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
)

var allCiphers = []struct {
	name   string
	cipher ContentCipher
	flag   string // the openssl cms -encrypt option of the same cipher
}{
	{"AES256CBC", AES256CBC, "-aes256"},
	{"AES128CBC", AES128CBC, "-aes128"},
	{"AES128GCM", AES128GCM, "-aes-128-gcm"},
	{"AES256GCM", AES256GCM, "-aes-256-gcm"},
}

var allTransports = []struct {
	name      string
	transport KeyTransport
}{
	{"PKCS1v15", RSAPKCS1v15},
	{"OAEPSHA256", RSAOAEPSHA256},
}

// testPlaintext is a MIME entity with CRLF line endings and bytes of every
// value, so that any change in transit shows.
func testPlaintext(size int) []byte {
	var b bytes.Buffer
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		b.WriteByte(byte(i * 7))
	}
	return b.Bytes()[:size]
}

// encryptBytes runs Encrypt over plaintext, written in pieces of 1000 bytes.
func encryptBytes(t testing.TB, plaintext []byte, recipients []*x509.Certificate, opts *EncryptOptions) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := Encrypt(&out, recipients, opts)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	for p := plaintext; len(p) > 0; {
		n := min(1000, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

// runOpenSSL runs openssl with args and returns its standard output.
func runOpenSSL(t testing.TB, openssl string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// opensslDecrypt decrypts message with openssl cms -decrypt for r.
func opensslDecrypt(t testing.TB, openssl string, r *testRecipient, message []byte) []byte {
	t.Helper()
	in := filepath.Join(t.TempDir(), "message.ber")
	if err := os.WriteFile(in, message, 0o600); err != nil {
		t.Fatal(err)
	}
	return runOpenSSL(t, openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", in, "-recip", r.certFile, "-inkey", r.keyFile)
}

func transportsFor(kind string) []struct {
	name      string
	transport KeyTransport
} {
	if strings.HasPrefix(kind, "rsa") {
		return allTransports
	}
	return allTransports[:1] // EC recipients ignore the key transport
}

func TestEncryptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	plaintext := testPlaintext(70_000)
	for _, kind := range recipientKinds {
		r := newRecipient(t, dir, kind)
		for _, c := range allCiphers {
			for _, tr := range transportsFor(kind) {
				t.Run(kind+"/"+c.name+"/"+tr.name, func(t *testing.T) {
					message := encryptBytes(t, plaintext, []*x509.Certificate{r.cert}, &EncryptOptions{Cipher: c.cipher, KeyTransport: tr.transport})
					got, err := Decrypt(bytes.NewReader(message), r.cert, r.key)
					if err != nil {
						t.Fatalf("Decrypt: %v", err)
					}
					if !bytes.Equal(got, plaintext) {
						t.Errorf("Decrypt returned %d bytes that differ from the %d bytes encrypted", len(got), len(plaintext))
					}
				})
			}
		}
	}
}

func TestOpenSSLDecryptsEncrypt(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	for _, kind := range recipientKinds {
		r := newRecipient(t, dir, kind)
		for _, c := range allCiphers {
			for _, tr := range transportsFor(kind) {
				t.Run(kind+"/"+c.name+"/"+tr.name, func(t *testing.T) {
					t.Parallel()
					for _, size := range []int{0, 15, 16, 100, chunkSize, chunkSize + 1} {
						plaintext := testPlaintext(size)
						message := encryptBytes(t, plaintext, []*x509.Certificate{r.cert}, &EncryptOptions{Cipher: c.cipher, KeyTransport: tr.transport})
						got := opensslDecrypt(t, openssl, r, message)
						if !bytes.Equal(got, plaintext) {
							t.Errorf("openssl decrypted %d bytes that differ from the %d bytes encrypted", len(got), len(plaintext))
						}
					}
				})
			}
		}
	}
}

func TestOpenSSLReadsStructure(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	rsaRecipient := newRecipient(t, dir, "rsa2048")
	ecRecipient := newRecipient(t, dir, "p384")

	tests := []struct {
		name   string
		opts   *EncryptOptions
		r      *testRecipient
		expect []string
	}{
		{"oaep", &EncryptOptions{KeyTransport: RSAOAEPSHA256}, rsaRecipient, []string{
			"pkcs7-envelopedData", "version: 0", "rsaesOaep", "sha256", "mgf1", "aes-256-cbc",
		}},
		{"pkcs1", &EncryptOptions{Cipher: AES128CBC}, rsaRecipient, []string{"rsaEncryption", "aes-128-cbc"}},
		{"ecdh", &EncryptOptions{Cipher: AES128CBC}, ecRecipient, []string{
			"version: 2", "d.kari", "version: 3", "id-ecPublicKey", "dhSinglePass-stdDH-sha256kdf-scheme", "id-aes128-wrap", "d.issuerAndSerialNumber",
		}},
		{"gcm", &EncryptOptions{Cipher: AES256GCM}, ecRecipient, []string{"id-smime-ct-authEnvelopedData", "aes-256-gcm", "id-aes256-wrap", "INTEGER           :10", "mac:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			message := encryptBytes(t, []byte("hello\r\n"), []*x509.Certificate{tt.r.cert}, tt.opts)
			in := filepath.Join(t.TempDir(), "message.ber")
			if err := os.WriteFile(in, message, 0o600); err != nil {
				t.Fatal(err)
			}
			printed := string(runOpenSSL(t, openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", in))
			for _, want := range tt.expect {
				if !strings.Contains(printed, want) {
					t.Errorf("openssl cms -print output lacks %q:\n%s", want, printed)
				}
			}
		})
	}
}

func TestMixedRecipients(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	recipients := []*testRecipient{newRecipient(t, dir, "rsa2048"), newRecipient(t, dir, "p256"), newRecipient(t, dir, "p384")}
	certs := []*x509.Certificate{recipients[0].cert, recipients[1].cert, recipients[2].cert}
	plaintext := testPlaintext(5000)

	for _, c := range allCiphers {
		message := encryptBytes(t, plaintext, certs, &EncryptOptions{Cipher: c.cipher, KeyTransport: RSAOAEPSHA256})
		for _, r := range recipients {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				if got := opensslDecrypt(t, openssl, r, message); !bytes.Equal(got, plaintext) {
					t.Errorf("openssl decrypted %d bytes that differ from the %d bytes encrypted", len(got), len(plaintext))
				}
				got, err := Decrypt(bytes.NewReader(message), r.cert, r.key)
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(got, plaintext) {
					t.Errorf("Decrypt returned %d bytes that differ from the %d bytes encrypted", len(got), len(plaintext))
				}
			})
		}
	}
}

func TestDecryptOpenSSLMessages(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	plaintext := testPlaintext(100_000)
	in := filepath.Join(dir, "plaintext")
	if err := os.WriteFile(in, plaintext, 0o600); err != nil {
		t.Fatal(err)
	}

	type variant struct {
		name string
		args []string
	}
	rsaVariants := []variant{
		{"pkcs1", nil},
		{"oaep-sha1", []string{"-keyopt", "rsa_padding_mode:oaep"}},
		{"oaep-sha256", []string{"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"}},
		{"oaep-sha384-mgf1-sha1", []string{"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha384", "-keyopt", "rsa_mgf1_md:sha1"}},
	}
	ecVariants := []variant{
		{"kdf-sha1", nil},
		{"kdf-sha256", []string{"-keyopt", "ecdh_kdf_md:sha256"}},
		{"kdf-sha384", []string{"-keyopt", "ecdh_kdf_md:sha384"}},
		{"kdf-sha512-cofactor", []string{"-keyopt", "ecdh_kdf_md:sha512", "-keyopt", "ecdh_cofactor_mode:1"}},
	}

	for _, kind := range recipientKinds {
		r := newRecipient(t, dir, kind)
		variants := rsaVariants
		if !strings.HasPrefix(kind, "rsa") {
			variants = ecVariants
		}
		ciphers := []string{"-aes256", "-aes128", "-aes192", "-aes-128-gcm", "-aes-256-gcm"}
		for _, c := range ciphers {
			for _, v := range variants {
				for _, stream := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/stream=%v", kind, c, v.name, stream)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						args := []string{"cms", "-encrypt", "-binary", c, "-in", in, "-outform", "DER", "-recip", r.certFile}
						args = append(args, v.args...)
						if stream {
							args = append(args, "-stream") // BER, indefinite lengths
						}
						message := runOpenSSL(t, openssl, args...)
						got, err := Decrypt(bytes.NewReader(message), r.cert, r.key)
						if err != nil {
							t.Fatalf("Decrypt: %v", err)
						}
						if !bytes.Equal(got, plaintext) {
							t.Errorf("Decrypt returned %d bytes that differ from the %d bytes encrypted", len(got), len(plaintext))
						}
					})
				}
			}
		}
	}
}

func TestEncryptRejectsUnsupportedKeys(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := selfSign(t, "rsa", testKey(t, "rsa2048").Public(), testKey(t, "rsa2048"))

	tests := []struct {
		name       string
		recipients []*x509.Certificate
		want       string
	}{
		{"ed25519", []*x509.Certificate{rsaCert, selfSign(t, "ed25519", edKey.Public(), edKey)}, "Ed25519 key"},
		{"x25519", []*x509.Certificate{x25519Certificate(t, xKey.PublicKey(), edKey)}, "X25519 key"},
		{"p521", []*x509.Certificate{selfSign(t, "p521", testKey(t, "p521").Public(), testKey(t, "p521"))}, "P-521"},
		{"nil certificate", []*x509.Certificate{nil}, "nil certificate"},
		{"no recipients", nil, "no recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w, err := Encrypt(&out, tt.recipients, nil)
			if err == nil {
				w.Close()
				t.Fatalf("Encrypt succeeded, want an error that contains %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Encrypt error = %q, want it to contain %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("Encrypt wrote %d bytes before failing", out.Len())
			}
		})
	}
}

// x25519Certificate returns a certificate for pub, which crypto/x509 cannot
// create: it signs one for an Ed25519 key and changes the algorithm OID of
// its SubjectPublicKeyInfo (1.3.101.112) to X25519 (1.3.101.110). The
// signature no longer verifies, which parsing does not check. crypto/x509
// leaves the PublicKey of such a certificate nil.
func x25519Certificate(t *testing.T, pub *ecdh.PublicKey, signer ed25519.PrivateKey) *x509.Certificate {
	t.Helper()
	cert := selfSign(t, "x25519", ed25519.PublicKey(pub.Bytes()), signer)
	spki := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, pub.Bytes()...)
	i := bytes.Index(cert.Raw, spki)
	if i < 0 {
		t.Fatal("the Ed25519 SubjectPublicKeyInfo is not in the certificate")
	}
	der := bytes.Clone(cert.Raw)
	der[i+8] = 0x6e
	x25519, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("failed to parse the X25519 certificate: %v", err)
	}
	return x25519
}

func TestDecryptWrongCertificate(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"rsa2048", "p256"} {
		t.Run(kind, func(t *testing.T) {
			to := newRecipient(t, dir, kind)
			other := newRecipient(t, dir, kind) // the same key under another serial number
			message := encryptBytes(t, []byte("secret"), []*x509.Certificate{to.cert}, nil)

			_, err := Decrypt(bytes.NewReader(message), other.cert, other.key)
			if !errors.Is(err, ErrNoRecipient) {
				t.Fatalf("Decrypt for another certificate: err = %v, want %v", err, ErrNoRecipient)
			}
			if !strings.Contains(err.Error(), "no recipient info for this certificate") {
				t.Errorf("Decrypt error = %q, want it to say no recipient info for this certificate", err)
			}
		})
	}
}

func TestDecryptBySubjectKeyIdentifier(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	dir := t.TempDir()
	for _, kind := range []string{"rsa2048", "p256"} {
		t.Run(kind, func(t *testing.T) {
			r := newRecipient(t, dir, kind)
			in := filepath.Join(t.TempDir(), "plaintext")
			if err := os.WriteFile(in, []byte("by key id"), 0o600); err != nil {
				t.Fatal(err)
			}
			message := runOpenSSL(t, openssl, "cms", "-encrypt", "-binary", "-keyid", "-aes256", "-in", in, "-outform", "DER", "-recip", r.certFile)
			got, err := Decrypt(bytes.NewReader(message), r.cert, r.key)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if string(got) != "by key id" {
				t.Errorf("Decrypt = %q, want %q", got, "by key id")
			}
		})
	}
}

func TestDecryptWrongKey(t *testing.T) {
	dir := t.TempDir()
	r := newRecipient(t, dir, "rsa2048")
	message := encryptBytes(t, []byte("secret"), []*x509.Certificate{r.cert}, nil)

	_, err := Decrypt(bytes.NewReader(message), r.cert, testKey(t, "rsa3072"))
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Decrypt with another key: err = %v, want a key mismatch", err)
	}
}

func TestDecryptRejectsAlteredContent(t *testing.T) {
	dir := t.TempDir()
	r := newRecipient(t, dir, "p256")
	for _, c := range allCiphers {
		t.Run(c.name, func(t *testing.T) {
			message := encryptBytes(t, testPlaintext(100), []*x509.Certificate{r.cert}, &EncryptOptions{Cipher: c.cipher})
			// The last bytes before the trailing end-of-contents octets are
			// the last cipher block (CBC) or the tag (GCM). Altering the last
			// CBC block would give random padding, which is valid about once
			// in 256 runs; flipping the last byte of the block before it flips
			// the last padding byte, which is never valid.
			altered := bytes.Clone(message)
			offset := len(altered) - 11
			if c.cipher == AES128CBC || c.cipher == AES256CBC {
				offset -= 16
			}
			altered[offset] ^= 0x01

			_, err := Decrypt(bytes.NewReader(altered), r.cert, r.key)
			if !errors.Is(err, errDecrypt) {
				t.Errorf("Decrypt of altered content: err = %v, want %v", err, errDecrypt)
			}
		})
	}
}

func TestDecryptRejectsNonEnvelopedContent(t *testing.T) {
	r := newRecipient(t, t.TempDir(), "p256")
	// ContentInfo with id-data.
	message := []byte{0x30, 0x11, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x04, 0x04, 0x02, 'h', 'i'}
	_, err := Decrypt(bytes.NewReader(message), r.cert, r.key)
	if err == nil || !strings.Contains(err.Error(), "not encrypted") {
		t.Errorf("Decrypt of id-data: err = %v, want an error that says it is not encrypted", err)
	}
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestEncryptReportsWriteErrors(t *testing.T) {
	r := newRecipient(t, t.TempDir(), "p256")
	_, err := Encrypt(errWriter{}, []*x509.Certificate{r.cert}, nil)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Encrypt to a failing writer: err = %v, want %v", err, io.ErrClosedPipe)
	}
}
