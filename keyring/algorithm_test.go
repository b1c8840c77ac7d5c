package keyring

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// checkPrintable fails the test when message contains a control character.
func checkPrintable(t *testing.T, message string) {
	t.Helper()
	for _, r := range message {
		if r < 0x20 || r == 0x7f {
			t.Errorf("message %q contains control character %#x", message, r)
		}
	}
}

func TestDSAKeyUnsupported(t *testing.T) {
	gpg := newGPG(t)
	uid := "Old <old@example.org>"
	gpg.run(t, nil, "--quick-gen-key", uid, "dsa2048", "sign", "never")
	fpr := gpg.fingerprintOf(t, uid)
	gpg.run(t, nil, "--quick-add-key", fpr, "elg2048", "encr", "never")

	k := openTemp(t)
	importBytes(t, k, gpg.run(t, nil, "--export-secret-keys", fpr))

	const reason = "uses the DSA algorithm, which sealmail does not sign or encrypt with"
	_, err := k.EncryptionKey(context.Background(), "old@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusUnsupported {
		t.Errorf("EncryptionKey status = %q, want unsupported (%v)", lookup.Status, err)
	}
	if want := "key 0x" + strings.ToUpper(fpr) + " " + reason; !strings.Contains(err.Error(), want) {
		t.Errorf("EncryptionKey error = %q, want it to contain %q", err, want)
	}
	checkPrintable(t, err.Error())

	_, err = k.SigningKey(context.Background(), "old@example.org", time.Now())
	lookup = lookupError(t, err)
	if lookup.Status != StatusUnsupported {
		t.Errorf("SigningKey status = %q, want unsupported (%v)", lookup.Status, err)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("SigningKey error = %q, want it to contain %q", err, reason)
	}
	checkPrintable(t, err.Error())

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Status != StatusUnsupported || entries[0].Algorithm != "dsa2048" {
		t.Errorf("List = %+v, want an unsupported dsa2048 key", entries[0])
	}
}

func TestElGamalSubkeyUnsupported(t *testing.T) {
	gpg := newGPG(t)
	uid := "Mixed <mixed@example.org>"
	gpg.run(t, nil, "--quick-gen-key", uid, "rsa3072", "sign", "never")
	fpr := gpg.fingerprintOf(t, uid)
	gpg.run(t, nil, "--quick-add-key", fpr, "elg2048", "encr", "never")

	k := openTemp(t)
	importBytes(t, k, gpg.run(t, nil, "--export", fpr))

	_, err := k.EncryptionKey(context.Background(), "mixed@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusUnsupported {
		t.Errorf("status = %q, want unsupported (%v)", lookup.Status, err)
	}
	want := "its encryption subkey 0x"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "uses the ElGamal algorithm") {
		t.Errorf("error = %q, want it to name the ElGamal encryption subkey", err)
	}
	checkPrintable(t, err.Error())
}

func TestEncryptionKeyRevokedSubkey(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Sam", "sam@example.org", GenerateOptions{})
	if err := e.Subkeys[0].Revoke(packet.KeySuperseded, "", nil); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	importBytes(t, k, publicBytes(t, e))

	_, err := k.EncryptionKey(context.Background(), "sam@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusNoEncryption {
		t.Errorf("status = %q, want %q (%v)", lookup.Status, StatusNoEncryption, err)
	}
	want := "subkey 0x" + e.Subkeys[0].PublicKey.KeyIdString() + " is revoked"
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error = %q, want it to end with %q", err, want)
	}
}
