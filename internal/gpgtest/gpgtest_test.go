package gpgtest_test

import (
	"bytes"
	"os"
	"testing"

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
