package gpgtest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/sealmail/sealmail/internal/gpgtest"
)

func TestImportAndDecrypt(t *testing.T) {
	gpg := gpgtest.New(t)
	info, err := os.Stat(gpg.Home)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("GNUPGHOME mode is %o, want 700", mode)
	}

	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultCipher: packet.CipherAES256}
	bob, err := openpgp.NewEntity("Bob", "", "bob@example.org", config)
	if err != nil {
		t.Fatal(err)
	}
	var secret bytes.Buffer
	if err := bob.SerializePrivateWithoutSigning(&secret, nil); err != nil {
		t.Fatal(err)
	}
	gpg.Import(t, secret.Bytes())

	var message bytes.Buffer
	armored, err := armor.Encode(&message, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	plaintext, err := openpgp.Encrypt(armored, []*openpgp.Entity{bob}, nil, nil, nil, config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plaintext.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := plaintext.Close(); err != nil {
		t.Fatal(err)
	}
	if err := armored.Close(); err != nil {
		t.Fatal(err)
	}

	status, stdout, stderr, err := gpg.Status(t, message.Bytes(), "--decrypt")
	if err != nil {
		t.Fatalf("gpg --decrypt failed: %v\n%s", err, stderr)
	}
	if string(stdout) != "hello" {
		t.Errorf("gpg decrypted %q, want %q", stdout, "hello")
	}
	if !gpgtest.HasStatus(status, "DECRYPTION_OKAY") {
		t.Errorf("status has no DECRYPTION_OKAY: %q", status)
	}
	if gpgtest.HasStatus(status, "DECRYPTION") {
		t.Errorf("HasStatus matched a keyword prefix")
	}
}

func TestRunReturnsExitError(t *testing.T) {
	gpg := gpgtest.New(t)
	_, _, err := gpg.Run(t, []byte("not a message"), "--decrypt")
	if err == nil {
		t.Errorf("gpg --decrypt of garbage succeeded")
	}
}

func TestNewGPGSMTrustsRoot(t *testing.T) {
	root, rootKey := newCertificate(t, "Test Root", nil, nil)
	leaf, _ := newCertificate(t, "leaf@example.org", root, rootKey)
	// gpgsm marks a certificate whose chain it validated "f" and one whose
	// root it does not trust "i".
	checkValidity(t, gpgtest.NewGPGSM(t, root), root, leaf, "f")
	checkValidity(t, gpgtest.NewGPGSM(t), root, leaf, "i")
}

// checkValidity imports root and leaf into the home of gpgsm and checks the
// validity that gpgsm lists for leaf.
func checkValidity(t *testing.T, gpgsm *gpgtest.GPGSM, root, leaf *x509.Certificate, want string) {
	t.Helper()
	info, err := os.Stat(gpgsm.Home)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("GNUPGHOME mode is %o, want 700", mode)
	}

	var certificates bytes.Buffer
	for _, cert := range []*x509.Certificate{root, leaf} {
		if err := pem.Encode(&certificates, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	runGPGSM := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpgsm.Path, append([]string{"--batch"}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+gpgsm.Home)
		cmd.Stdin = bytes.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpgsm %s failed: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return stdout.Bytes()
	}
	runGPGSM(certificates.Bytes(), "--import")
	listing := string(runGPGSM(nil, "--with-colons", "--with-validation", "--list-keys", "leaf@example.org"))
	var validity []string
	for _, line := range strings.Split(listing, "\n") {
		if fields := strings.Split(line, ":"); fields[0] == "crt" && len(fields) > 1 {
			validity = append(validity, fields[1])
		}
	}
	if len(validity) != 1 || validity[0] != want {
		t.Errorf("gpgsm lists the validity %q for the leaf, want %q:\n%s", validity, want, listing)
	}
}

// newCertificate returns a certificate for name, issued by issuer or, when
// issuer is nil, self-signed as a CA, with its key.
func newCertificate(t *testing.T, name string, issuer *x509.Certificate, issuerKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if issuer == nil {
		template.IsCA = true
		template.BasicConstraintsValid = true
		template.KeyUsage = x509.KeyUsageCertSign
		issuer, issuerKey = template, key
	} else {
		template.EmailAddresses = []string{name}
		template.KeyUsage = x509.KeyUsageDigitalSignature
		template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
