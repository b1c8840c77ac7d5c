// Package smime protects MIME entities with S/MIME 4.0 (RFC 8551) and reads
// them back: multipart/signed with a detached SignedData, the opaque
// application/pkcs7-mime signed-data form, and application/pkcs7-mime
// enveloped-data or authEnveloped-data, with certificates handled as
// RFC 8550 says.
//
// Sign writes multipart/signed by default (RFC 8551 section 3.5.3), with a
// DER SignedData (RFC 5652 section 5) made by this package: RSA PKCS #1
// v1.5 with SHA-256, or ECDSA with SHA-256, SHA-384 or SHA-512 for P-256,
// P-384 or P-521 (RFC 5753 section 7.1.1). The signed attributes are
// contentType, signingTime, messageDigest, SMIMECapabilities and, for a
// separate encryption certificate, SMIMEEncryptionKeyPreference. The
// certificates are the signer's and its chain without the root.
//
// Open reads what Sign and Encrypt write, and what other S/MIME agents
// write in BER or DER. It verifies the certificate chain with the
// emailProtection extended key usage.
//
// CertsOnly and WriteCertsOnly write a certs-only message (RFC 8551
// section 3.8): a SignedData without content or signers that carries a
// certificate chain, in an application/pkcs7-mime part with
// smime-type=certs-only named smime.p7c.
//
// Divergences from RFC 8551:
//   - Signing with SHA-1, MD5, RSASSA-PSS or EdDSA is not supported, and
//     Open rejects SHA-1 and MD5 signatures (RFC 8551 section 2.1 allows
//     SHA-1 for reading old mail).
//   - Open verifies the certificate chain at the current time (Options.Now),
//     not at the signingTime the sender claims.
//   - The application/x-pkcs7-* types are written only with
//     Options.LegacyTypes; Open accepts both forms.
package smime

import (
	"crypto"
	"crypto/x509"
	"io"
	"time"

	"github.com/sealmail/sealmail/crypto/cms"
)

// BodyFunc writes the MIME entity to protect: its header fields (no
// MIME-Version), an empty line and its body, in 7-bit form with CRLF line
// endings.
type BodyFunc func(w io.Writer) error

// Signer is the sender's identity: the signing certificate, the chain up
// to (not including) the root, and the private key.
type Signer struct {
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	Key         crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
	// EncryptionCertificate, when not nil and not Certificate, is named in
	// the signed attribute SMIMEEncryptionKeyPreference (RFC 8551
	// section 2.5.3).
	EncryptionCertificate *x509.Certificate
}

// Options tune one call. The zero value (or nil) is safe: SHA-256 (or the
// hash that matches a larger EC key), AES-256-CBC, PKCS #1 v1.5 key
// transport, detached signatures, the application/pkcs7-* types.
type Options struct {
	Cipher       cms.ContentCipher
	KeyTransport cms.KeyTransport
	// Opaque makes Sign write application/pkcs7-mime; smime-type=signed-data
	// instead of multipart/signed.
	Opaque bool
	// LegacyTypes writes application/x-pkcs7-mime and
	// application/x-pkcs7-signature, for old receivers.
	LegacyTypes bool
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
	// Rand is the source of randomness; nil means crypto/rand.Reader.
	Rand io.Reader
}

// Opened is an S/MIME message read back by Open.
type Opened struct {
	// Entity is the innermost protected MIME entity.
	Entity []byte
	// Encrypted reports whether the message was enveloped or
	// authEnveloped data.
	Encrypted bool
	// Signed reports whether a signature was found.
	Signed bool
	// SignerCertificate is the certificate of a good signature, or nil.
	SignerCertificate *x509.Certificate
	// SignatureErr is the reason the signature did not verify; nil when it did
	// or when there was none.
	SignatureErr error
	// Micalg is the micalg parameter of a multipart/signed entity.
	Micalg string
}
