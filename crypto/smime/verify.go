package smime

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/smallstep/pkcs7"
)

// signatureResult is the outcome of verifying one SignedData.
type signatureResult struct {
	content []byte // the encapsulated content; nil for a detached signature
	signer  *x509.Certificate
	hash    crypto.Hash
	err     error // the reason no signer verified; nil when one did
}

// readSignedData parses a ContentInfo holding SignedData in DER or BER.
func readSignedData(der []byte) (*pkcs7.PKCS7, error) {
	contentType, err := contentTypeOf(der)
	if err != nil {
		return nil, err
	}
	if !contentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("smime: CMS content type is %s, want SignedData (%s)", contentType, oidSignedData)
	}
	signed, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("failed to parse the SignedData: %w", err)
	}
	if len(signed.Signers) == 0 {
		return nil, errors.New("smime: SignedData contains no signer (a certs-only message is not a signature)")
	}
	return signed, nil
}

// verifySignedData verifies the signers of signed over content, which is
// the detached content or, when nil, the encapsulated one. A single signer
// that verifies, with a certificate chain to roots valid at now for email
// protection, is enough.
func verifySignedData(signed *pkcs7.PKCS7, detached []byte, roots *x509.CertPool, now time.Time) signatureResult {
	result := signatureResult{content: signed.Content}
	content := signed.Content
	if detached != nil {
		if len(signed.Content) > 0 {
			result.err = errors.New("smime: detached signature contains content of its own")
			return result
		}
		content = detached
		result.content = nil
	}

	intermediates := x509.NewCertPool()
	for _, cert := range signed.Certificates {
		intermediates.AddCert(cert)
	}

	var failures []error
	for i, info := range signed.Signers {
		cert := findCertificate(signed.Certificates, info.IssuerAndSerialNumber.IssuerName.FullBytes, info.IssuerAndSerialNumber.SerialNumber)
		hash, err := hashForDigest(info.DigestAlgorithm.Algorithm)
		if err == nil && result.hash == 0 {
			result.hash = hash
		}
		if err == nil && cert == nil {
			err = fmt.Errorf("smime: SignedData does not contain the certificate of signer %d", i+1)
		}
		if err == nil {
			err = verifySigner(info.AuthenticatedAttributes, info.DigestEncryptionAlgorithm.Algorithm, info.EncryptedDigest, cert, hash, content)
		}
		if err == nil {
			err = verifyCertificate(cert, intermediates, roots, now)
		}
		if err != nil {
			failures = append(failures, err)
			continue
		}
		result.signer = cert
		result.hash = hash
		return result
	}
	result.err = errors.Join(failures...)
	return result
}

// verifySigner checks one SignerInfo (RFC 5652 section 5.6): the
// contentType and messageDigest attributes, then the signature over the DER
// SET OF the signed attributes, or over the content when there are none.
// A is the attribute type of smallstep/pkcs7, which it does not export.
func verifySigner[A any](attributes []A, signatureOID asn1.ObjectIdentifier, signature []byte, cert *x509.Certificate, hash crypto.Hash, content []byte) error {
	digest := hash.New()
	digest.Write(content)
	computed := digest.Sum(nil)

	signedBytes := content
	if len(attributes) > 0 {
		var encoded [][]byte
		values := map[string][]byte{}
		for _, a := range attributes {
			der, err := asn1.Marshal(a)
			if err != nil {
				return fmt.Errorf("failed to encode a signed attribute: %w", err)
			}
			var parsed struct {
				Type   asn1.ObjectIdentifier
				Values asn1.RawValue
			}
			if _, err := asn1.Unmarshal(der, &parsed); err != nil {
				return fmt.Errorf("failed to read a signed attribute: %w", err)
			}
			oid := parsed.Type.String()
			if _, dup := values[oid]; dup {
				return fmt.Errorf("smime: signed attribute %s appears twice", oid)
			}
			values[oid] = parsed.Values.Bytes
			encoded = append(encoded, der)
		}

		if err := checkContentType(values[oidAttributeContentType.String()]); err != nil {
			return err
		}
		var messageDigest []byte
		if rest, err := asn1.Unmarshal(values[oidAttributeMessageDigest.String()], &messageDigest); err != nil || len(rest) > 0 {
			return errors.New("smime: signed attributes contain no single messageDigest")
		}
		if subtle.ConstantTimeCompare(messageDigest, computed) != 1 {
			return errors.New("smime: message digest does not match the content: the signed part was changed")
		}
		// RFC 5652 section 5.4: the signature covers the attributes with the
		// SET OF tag instead of the implicit [0].
		signedBytes = derSet(bytes.Join(encoded, nil))
	}

	algorithm, err := signatureAlgorithmFor(signatureOID, hash)
	if err != nil {
		return err
	}
	if err := cert.CheckSignature(algorithm, signedBytes, signature); err != nil {
		return fmt.Errorf("smime: bad signature by %q: %w", cert.Subject.String(), err)
	}
	return nil
}

// checkContentType checks that the contentType attribute names id-data,
// the only content S/MIME signs.
func checkContentType(values []byte) error {
	var contentType asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(values, &contentType); err != nil || len(rest) > 0 {
		return errors.New("smime: signed attributes contain no single contentType")
	}
	if !contentType.Equal(oidData) {
		return fmt.Errorf("smime: signed content type is %s, want id-data (%s)", contentType, oidData)
	}
	return nil
}

// verifyCertificate checks the signer certificate: a key usage that allows
// signatures (RFC 8550 section 4.4.2) and a chain to roots valid at now
// for email protection.
func verifyCertificate(cert *x509.Certificate, intermediates, roots *x509.CertPool, now time.Time) error {
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("smime: certificate %q does not allow digital signatures (key usage)", cert.Subject.String())
	}
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	})
	if err != nil {
		return fmt.Errorf("smime: certificate %q is not trusted for email: %w", cert.Subject.String(), err)
	}
	return nil
}

// findCertificate returns the certificate with the given issuer and serial
// number, or nil.
func findCertificate(certs []*x509.Certificate, issuer []byte, serial *big.Int) *x509.Certificate {
	if serial == nil {
		return nil
	}
	for _, cert := range certs {
		if bytes.Equal(cert.RawIssuer, issuer) && cert.SerialNumber.Cmp(serial) == 0 {
			return cert
		}
	}
	return nil
}

// hashForDigest returns the hash a digest algorithm names. SHA-1 and MD5
// are rejected: they no longer resist collisions.
func hashForDigest(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("smime: digest algorithm %s is not accepted; only SHA-256, SHA-384 and SHA-512 are", oid)
}

// hashNames are the micalg values of RFC 8551 section 3.5.3.2.
var hashNames = map[crypto.Hash]string{
	crypto.SHA256: "sha-256",
	crypto.SHA384: "sha-384",
	crypto.SHA512: "sha-512",
}

// signatureAlgorithmFor returns the x509 signature algorithm for a
// SignerInfo signatureAlgorithm and its digest algorithm. CMS senders name
// RSA either as rsaEncryption or with the hash (RFC 5754 section 3.2), and
// ECDSA with the hash (RFC 5753 section 7.1.3).
func signatureAlgorithmFor(oid asn1.ObjectIdentifier, hash crypto.Hash) (x509.SignatureAlgorithm, error) {
	rsa := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA}
	ecdsa := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}
	named := map[string]struct {
		hash      crypto.Hash
		algorithm x509.SignatureAlgorithm
	}{
		oidSHA256WithRSA.String():   {crypto.SHA256, x509.SHA256WithRSA},
		oidSHA384WithRSA.String():   {crypto.SHA384, x509.SHA384WithRSA},
		oidSHA512WithRSA.String():   {crypto.SHA512, x509.SHA512WithRSA},
		oidECDSAWithSHA256.String(): {crypto.SHA256, x509.ECDSAWithSHA256},
		oidECDSAWithSHA384.String(): {crypto.SHA384, x509.ECDSAWithSHA384},
		oidECDSAWithSHA512.String(): {crypto.SHA512, x509.ECDSAWithSHA512},
	}

	switch {
	case oid.Equal(oidRSAEncryption):
		return rsa[hash], nil
	case oid.Equal(oidECPublicKey):
		return ecdsa[hash], nil
	}
	if n, ok := named[oid.String()]; ok {
		if n.hash != hash {
			return 0, fmt.Errorf("smime: signature algorithm %s does not match digest algorithm %s", oid, hashNames[hash])
		}
		return n.algorithm, nil
	}
	return 0, fmt.Errorf("smime: signature algorithm %s is not supported; only RSA PKCS #1 v1.5 and ECDSA are", oid)
}

// contentTypeOf returns the contentType of a ContentInfo in DER or BER
// without parsing the rest, which may use indefinite lengths.
func contentTypeOf(der []byte) (asn1.ObjectIdentifier, error) {
	if len(der) < 2 || der[0] != 0x30 {
		return nil, errors.New("smime: body is not a CMS ContentInfo (no SEQUENCE)")
	}
	rest := der[2:]
	switch length := der[1]; {
	case length == 0x80: // indefinite length
	case length > 0x80:
		octets := int(length & 0x7f)
		if octets > len(rest) {
			return nil, errors.New("smime: CMS ContentInfo is truncated")
		}
		rest = rest[octets:]
	}
	var contentType asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(rest, &contentType); err != nil {
		return nil, fmt.Errorf("failed to read the CMS content type: %w", err)
	}
	return contentType, nil
}
