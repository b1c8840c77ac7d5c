package cms

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Constructed context-specific tags: [0], [1] and [2] of the CHOICE, EXPLICIT
// and IMPLICIT fields this package writes.
var (
	tagContext0 = cbasn1.Tag(0).ContextSpecific().Constructed()
	tagContext1 = cbasn1.Tag(1).ContextSpecific().Constructed()
	tagContext2 = cbasn1.Tag(2).ContextSpecific().Constructed()
)

// recipientKind is the way the content-encryption key reaches one recipient.
type recipientKind int

const (
	keyTransport recipientKind = iota // RSA, KeyTransRecipientInfo
	keyAgreement                      // ECDH, KeyAgreeRecipientInfo
)

// checkRecipient returns how cert can receive a key, or an error that names
// the certificate when its key cannot be used.
func checkRecipient(cert *x509.Certificate) (recipientKind, error) {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return keyTransport, nil
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P256() || pub.Curve == elliptic.P384() {
			return keyAgreement, nil
		}
		return 0, fmt.Errorf("cms: recipient certificate %q has an EC key on %s: use an RSA, P-256 or P-384 certificate", cert.Subject.String(), pub.Curve.Params().Name)
	default:
		return 0, fmt.Errorf("cms: recipient certificate %q has a %s key, which this package cannot encrypt to: use an RSA, P-256 or P-384 certificate", cert.Subject.String(), keyAlgorithmName(cert))
	}
}

// keyAlgorithmName names the public key algorithm of cert, including the
// ones crypto/x509 does not parse.
func keyAlgorithmName(cert *x509.Certificate) string {
	if cert.PublicKeyAlgorithm != x509.UnknownPublicKeyAlgorithm {
		return cert.PublicKeyAlgorithm.String()
	}
	var spki struct {
		Algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return "unparsable"
	}
	switch oid := spki.Algorithm.Algorithm; {
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 101, 110}):
		return "X25519"
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 101, 111}):
		return "X448"
	default:
		return oid.String()
	}
}

// addIssuerAndSerialNumber adds the IssuerAndSerialNumber of RFC 5652
// section 10.2.4 that identifies cert.
func addIssuerAndSerialNumber(b *cryptobyte.Builder, cert *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(cert.RawIssuer)
		b.AddASN1BigInt(cert.SerialNumber)
	})
}

// addAlgorithm adds an AlgorithmIdentifier with absent parameters.
func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
	})
}

// addKeyTransRecipientInfo adds a KeyTransRecipientInfo (RFC 5652 section
// 6.2.1) of version 0 that carries cek to the RSA key of cert.
func addKeyTransRecipientInfo(b *cryptobyte.Builder, cert *x509.Certificate, cek []byte, transport KeyTransport, rand io.Reader) error {
	pub := cert.PublicKey.(*rsa.PublicKey)

	var encryptedKey []byte
	var err error
	switch transport {
	case RSAPKCS1v15:
		encryptedKey, err = rsa.EncryptPKCS1v15(rand, pub, cek)
	case RSAOAEPSHA256:
		encryptedKey, err = rsa.EncryptOAEP(sha256.New(), rand, pub, cek, nil)
	default:
		return fmt.Errorf("cms: unknown key transport %d: use RSAPKCS1v15 or RSAOAEPSHA256", transport)
	}
	if err != nil {
		return fmt.Errorf("cms: failed to encrypt the content key to %q: %w", cert.Subject.String(), err)
	}

	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		addIssuerAndSerialNumber(b, cert)
		if transport == RSAOAEPSHA256 {
			addOAEPSHA256(b)
		} else {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSAEncryption)
				b.AddASN1NULL()
			})
		}
		b.AddASN1OctetString(encryptedKey)
	})
	return nil
}

// addOAEPSHA256 adds id-RSAES-OAEP with RSAES-OAEP-params that state SHA-256
// for the hash and for MGF1 and leave pSourceFunc at its default, the empty
// label (RFC 4055 section 4.1). OpenSSL 3.0 fails on SHA-256 OAEP without the
// MGF parameter. The SHA-256 identifiers omit their parameters, as OpenSSL
// writes them and RFC 5754 section 2 prefers.
func addOAEPSHA256(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSAESOAEP)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
				addAlgorithm(b, oidSHA256)
			})
			b.AddASN1(tagContext1, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidMGF1)
					addAlgorithm(b, oidSHA256)
				})
			})
		})
	})
}

// wrapAlgorithm returns the AES key wrap that matches a content key of
// keySize bytes, as OpenSSL 3.0 chooses it.
func wrapAlgorithm(keySize int) asn1.ObjectIdentifier {
	switch keySize {
	case 16:
		return oidAES128Wrap
	case 24:
		return oidAES192Wrap
	default:
		return oidAES256Wrap
	}
}

// addKeyAgreeRecipientInfo adds a [1] KeyAgreeRecipientInfo (RFC 5652
// section 6.2.2, RFC 5753 section 3.1) of version 3 that carries cek to the
// EC key of cert. It uses an ephemeral key of the same curve, ECDH, the
// X9.63 KDF over SHA-256 and an AES key wrap of the content key's size.
func addKeyAgreeRecipientInfo(b *cryptobyte.Builder, cert *x509.Certificate, cek []byte, rand io.Reader) error {
	pub, err := cert.PublicKey.(*ecdsa.PublicKey).ECDH()
	if err != nil {
		return fmt.Errorf("cms: invalid EC key in recipient certificate %q: %w", cert.Subject.String(), err)
	}
	ephemeral, err := pub.Curve().GenerateKey(rand)
	if err != nil {
		return fmt.Errorf("cms: failed to generate an ephemeral EC key: %w", err)
	}
	shared, err := ephemeral.ECDH(pub)
	if err != nil {
		return fmt.Errorf("cms: ECDH with recipient certificate %q failed: %w", cert.Subject.String(), err)
	}

	var wrap cryptobyte.Builder
	addAlgorithm(&wrap, wrapAlgorithm(len(cek)))
	wrapDER := wrap.BytesOrPanic()
	kek := x963KDF(sha256.New, shared, eccSharedInfo(wrapDER, nil, len(cek)), len(cek))
	encryptedKey, err := wrapKey(kek, cek)
	if err != nil {
		return err
	}

	b.AddASN1(tagContext1, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
			addOriginatorPublicKey(b, ephemeral.PublicKey())
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidECDHStdSHA256KDF)
			b.AddBytes(wrapDER)
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addIssuerAndSerialNumber(b, cert)
				b.AddASN1OctetString(encryptedKey)
			})
		})
	})
	return nil
}

// addOriginatorPublicKey adds originatorKey [1] OriginatorPublicKey with
// id-ecPublicKey and absent parameters: the curve is the recipient's
// (RFC 5753 section 3.1.1).
func addOriginatorPublicKey(b *cryptobyte.Builder, pub *ecdh.PublicKey) {
	b.AddASN1(tagContext1, func(b *cryptobyte.Builder) {
		addAlgorithm(b, oidECPublicKey)
		b.AddASN1BitString(pub.Bytes())
	})
}

// eccSharedInfo returns the DER of ECC-CMS-SharedInfo (RFC 5753 section
// 7.2): the key wrap AlgorithmIdentifier as the message encodes it, the ukm
// when there is one, and the size of the key-encryption key in bits.
func eccSharedInfo(wrapAlgorithm []byte, ukm []byte, keySize int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(wrapAlgorithm)
		if ukm != nil {
			b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(ukm)
			})
		}
		b.AddASN1(tagContext2, func(b *cryptobyte.Builder) {
			bits := uint32(keySize) * 8
			b.AddASN1OctetString([]byte{byte(bits >> 24), byte(bits >> 16), byte(bits >> 8), byte(bits)})
		})
	})
	return b.BytesOrPanic()
}
