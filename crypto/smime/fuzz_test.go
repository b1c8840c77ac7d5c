package smime

import (
	"bytes"
	"crypto/x509"
	"testing"
)

func FuzzOpen(f *testing.F) {
	pki := newTestPKI(f)
	signer := pki.issue(f, kindP256, "alice@example.org")
	recipient := pki.issue(f, kindP384, "bob@example.org")

	seeds := [][]byte{
		sign(f, signer, testEntity, nil),
		sign(f, signer, testEntity, &Options{Opaque: true}),
		sign(f, signer, testEntity, &Options{LegacyTypes: true}),
		[]byte(testEntity),
		[]byte("Content-Type: multipart/signed; boundary=b; protocol=\"application/pkcs7-signature\"; micalg=sha-256\r\n\r\n--b\r\n\r\n--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQE=\r\n--b--\r\n"),
		[]byte("Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n"),
	}
	var encrypted bytes.Buffer
	if err := Encrypt(&encrypted, []*x509.Certificate{recipient.Certificate}, signer, writeBytes(testEntity), nil); err == nil {
		seeds = append(seeds, encrypted.Bytes())
	}
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, message []byte) {
		opened, err := Open(bytes.NewReader(message), recipient.Certificate, recipient.Key, pki.roots, nil)
		if err != nil {
			return
		}
		if opened.SignerCertificate != nil && opened.SignatureErr != nil {
			t.Errorf("SignerCertificate is set although SignatureErr is %v", opened.SignatureErr)
		}
		if opened.SignerCertificate != nil && !opened.Signed {
			t.Errorf("SignerCertificate is set for an unsigned message")
		}
	})
}
