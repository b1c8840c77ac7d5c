package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// demoCA is a throwaway certificate authority, a root and an intermediate,
// that issues the S/MIME certificates of the demo and of the tests. Nothing
// outside a demo home ever trusts it.
type demoCA struct {
	root, intermediate       *x509.Certificate
	rootKey, intermediateKey crypto.Signer
}

// newDemoCA makes a root and an intermediate with ECDSA P-256 keys, valid
// from an hour before now for two years.
func newDemoCA(now time.Time) (*demoCA, error) {
	ca := &demoCA{}
	var err error
	if ca.rootKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if ca.intermediateKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}

	rootTemplate := caTemplate("sealmail demo root CA", now)
	if ca.root, err = createCertificate(rootTemplate, rootTemplate, ca.rootKey.Public(), ca.rootKey); err != nil {
		return nil, err
	}
	interTemplate := caTemplate("sealmail demo intermediate CA", now)
	interTemplate.MaxPathLenZero = true
	if ca.intermediate, err = createCertificate(interTemplate, ca.root, ca.intermediateKey.Public(), ca.rootKey); err != nil {
		return nil, err
	}
	return ca, nil
}

func caTemplate(name string, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"sealmail demo"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// issue makes an S/MIME certificate for name and address with key, signed
// by the intermediate: emailProtection, the address as rfc822Name, and the
// key usages RFC 8550 section 4.4.2 expects for the key's type.
func (ca *demoCA) issue(name, address string, key crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	usage := x509.KeyUsageDigitalSignature
	switch key.(type) {
	case *ecdsa.PublicKey:
		usage |= x509.KeyUsageKeyAgreement
	default:
		usage |= x509.KeyUsageKeyEncipherment
	}
	template := &x509.Certificate{
		SerialNumber:   randomSerial(),
		Subject:        pkix.Name{CommonName: name},
		EmailAddresses: []string{address},
		NotBefore:      now.Add(-time.Hour),
		NotAfter:       now.AddDate(1, 0, 0),
		KeyUsage:       usage,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	return createCertificate(template, ca.intermediate, key, ca.intermediateKey)
}

func createCertificate(template, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to create the certificate %q: %w", template.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func randomSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// rand.Int fails only when its reader does, and crypto/rand.Reader
		// never returns an error since Go 1.24.
		panic(err)
	}
	return serial
}

// pemCertificates returns certs as PEM blocks.
func pemCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// pemPrivateKey returns key as a PKCS #8 PEM block, for openssl -inkey.
func pemPrivateKey(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
