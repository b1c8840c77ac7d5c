package cms

import (
	"bytes"
	"crypto/x509"
	"testing"
)

// FuzzDecrypt feeds altered messages to Decrypt for an RSA and an EC
// recipient: any input may fail, none may panic.
func FuzzDecrypt(f *testing.F) {
	dir := f.TempDir()
	rsaRecipient := newRecipient(f, dir, "rsa2048")
	ecRecipient := newRecipient(f, dir, "p256")
	certs := []*x509.Certificate{rsaRecipient.cert, ecRecipient.cert}
	for _, c := range allCiphers {
		for _, tr := range allTransports {
			f.Add(encryptBytes(f, []byte("fuzz\r\n"), certs, &EncryptOptions{Cipher: c.cipher, KeyTransport: tr.transport}))
		}
	}

	f.Fuzz(func(t *testing.T, message []byte) {
		for _, r := range []*testRecipient{rsaRecipient, ecRecipient} {
			plaintext, err := Decrypt(bytes.NewReader(message), r.cert, r.key)
			if err == nil && plaintext == nil {
				t.Errorf("Decrypt for %s returned neither plaintext nor an error", r.name)
			}
		}
	})
}

// FuzzParseBER checks that the BER parser never panics and that what it
// accepts survives re-encoding as DER.
func FuzzParseBER(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x04, 0x01, 'a', 0x00, 0x00})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 'a', 0x24, 0x03, 0x04, 0x01, 'b', 0x00, 0x00})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x05})
	f.Add([]byte{0x5f, 0x81, 0x00, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseBER(data)
		if err != nil {
			return
		}
		der := n.der()
		again, err := parseBER(der)
		if err != nil {
			t.Fatalf("parseBER of the DER of an accepted element: %v", err)
		}
		if !bytes.Equal(again.der(), der) {
			t.Errorf("DER changed on a second round: %X, then %X", der, again.der())
		}
		if n.constructed && n.isUniversal(4) {
			if _, err := n.octets(); err != nil {
				return
			}
		}
	})
}
