package cms_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"time"

	"github.com/sealmail/sealmail/crypto/cms"
)

// Example encrypts a MIME entity to one EC certificate with AES-256-GCM and
// decrypts it again.
func Example() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "alice@example.com"},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageKeyAgreement,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}

	var message bytes.Buffer
	w, err := cms.Encrypt(&message, []*x509.Certificate{cert}, &cms.EncryptOptions{Cipher: cms.AES256GCM})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.WriteString(w, "Content-Type: text/plain\r\n\r\nhello\r\n"); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	entity, err := cms.Decrypt(&message, cert, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", entity)
	// Output: "Content-Type: text/plain\r\n\r\nhello\r\n"
}
