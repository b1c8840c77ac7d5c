package pgpmime

import (
	"bytes"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func FuzzOpen(f *testing.F) {
	alice := testKey(f, kindEd25519, "alice")
	bob := testKey(f, kindEd25519, "bob")
	keys := openpgp.EntityList{alice, bob}

	for _, seed := range [][]byte{
		signMessage(f, alice),
		encryptMessage(f, bob, nil),
		encryptMessage(f, bob, alice),
		[]byte(testEntity),
		[]byte("Content-Type: multipart/signed; boundary=b; protocol=\"application/pgp-signature\"\r\n\r\n--b\r\n\r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\n--b--\r\n"),
		[]byte("Content-Type: multipart/encrypted; boundary=b; protocol=\"application/pgp-encrypted\"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nwcBMA\r\n--b--\r\n"),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, message []byte) {
		opened, err := Open(bytes.NewReader(message), keys, nil)
		if err != nil {
			return
		}
		if opened.Signer != "" && opened.SignatureErr != nil {
			t.Errorf("Signer is %q although SignatureErr is %v", opened.Signer, opened.SignatureErr)
		}
		if opened.Signer != "" && !opened.Signed {
			t.Errorf("Signer is %q for an unsigned message", opened.Signer)
		}
	})
}

func signMessage(tb testing.TB, signer *openpgp.Entity) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := Sign(&out, signer, writeBytes(testEntity), nil); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func encryptMessage(tb testing.TB, recipient, signer *openpgp.Entity) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := Encrypt(&out, []*openpgp.Entity{recipient}, signer, writeBytes(testEntity), nil); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
