// Package cms writes and reads the CMS structures of S/MIME encryption that
// no maintained Go library writes correctly: EnvelopedData (RFC 5652
// section 6) with AES-CBC, AuthEnvelopedData (RFC 5083) with AES-GCM
// (RFC 5084), RSA key transport with PKCS #1 v1.5 or RSAES-OAEP with SHA-256
// (RFC 8017, RFC 4055), and ECDH ephemeral-static key agreement on P-256 and
// P-384 (RFC 5753) with the X9.63 KDF over SHA-256 and AES key wrap
// (RFC 3394).
//
// STUB: the contract below is fixed; the implementation is being written.
package cms

import (
	"crypto"
	"crypto/x509"
	"io"
)

// ContentCipher is the content-encryption algorithm. The zero value is
// AES-256-CBC in EnvelopedData.
type ContentCipher int

const (
	AES256CBC ContentCipher = iota
	AES128CBC
	AES128GCM // AuthEnvelopedData
	AES256GCM // AuthEnvelopedData
)

// KeyTransport is how the content-encryption key reaches an RSA recipient.
// The zero value is PKCS #1 v1.5. EC recipients always use ECDH.
type KeyTransport int

const (
	RSAPKCS1v15 KeyTransport = iota
	RSAOAEPSHA256
)

// EncryptOptions choose the algorithms of one message; the zero value (or
// nil) is AES-256-CBC with PKCS #1 v1.5 key transport and crypto/rand.
type EncryptOptions struct {
	Cipher       ContentCipher
	KeyTransport KeyTransport
	// Rand is the source of randomness; nil means crypto/rand.Reader.
	Rand io.Reader
}

// Encrypt returns a writer: what is written to it is encrypted to every
// recipient, and a ContentInfo holding EnvelopedData (CBC ciphers) or
// AuthEnvelopedData (GCM ciphers) is written to w in BER, streaming where
// the cipher allows it. Close finishes the structure. Each recipient is an
// RSA certificate (key transport) or an EC P-256 or P-384 certificate (key
// agreement); any other key fails before anything is written.
func Encrypt(w io.Writer, recipients []*x509.Certificate, opts *EncryptOptions) (io.WriteCloser, error) {
	panic("unimplemented")
}

// Decrypt reads a ContentInfo in DER or BER holding EnvelopedData or
// AuthEnvelopedData, finds the recipient info for cert, and returns the
// decrypted content. It reads untrusted input: bad padding, a bad tag or a
// malformed structure is an error, never a panic.
func Decrypt(r io.Reader, cert *x509.Certificate, key crypto.PrivateKey) ([]byte, error) {
	panic("unimplemented")
}
