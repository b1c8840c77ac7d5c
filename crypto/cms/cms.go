// Package cms writes and reads the CMS structures of S/MIME encryption that
// no maintained Go library writes correctly: EnvelopedData (RFC 5652
// section 6) with AES-CBC, AuthEnvelopedData (RFC 5083) with AES-GCM
// (RFC 5084), RSA key transport with PKCS #1 v1.5 or RSAES-OAEP with SHA-256
// (RFC 8017, RFC 4055), and ECDH ephemeral-static key agreement on P-256 and
// P-384 (RFC 5753) with the X9.63 KDF over SHA-256 and AES key wrap
// (RFC 3394).
//
// Call [Encrypt] to write a message and [Decrypt] to read one.
//
// # Encoding
//
// Encrypt writes BER (X.690): the outer structures have indefinite lengths
// and the encrypted content is a constructed OCTET STRING of 64 KiB chunks,
// so AES-CBC content streams through a fixed amount of memory. AES-GCM
// cannot stream with Go's one-shot AEAD: Encrypt holds the whole content in
// memory until Close, and Decrypt always does.
//
// Decrypt reads DER and BER. It finds the recipient by IssuerAndSerialNumber
// or SubjectKeyIdentifier, and reads what OpenSSL 3.0 writes: PKCS #1 v1.5
// and RSAES-OAEP with any SHA-1 or SHA-2 parameters; ECDH with the SHA-1 and
// SHA-2 KDFs, standard or cofactor (the same on prime curves), and AES-128,
// AES-192 or AES-256 key wrap; AES-CBC and AES-GCM of any key size.
//
// # Divergences
//
// Encrypt omits originatorInfo and the optional attributes, and identifies
// recipients by IssuerAndSerialNumber only. Decrypt does not support
// static-static ECDH (an originator other than originatorKey), key-encryption
// (KEK) or password recipients, or content other than AES.
package cms

import (
	"encoding/asn1"
	"errors"
	"fmt"
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

// KeyTransport is the algorithm that carries the content-encryption key to
// an RSA recipient.
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
	// NOTE: since Go 1.26 the RSA padding and the ephemeral ECDH keys always
	// come from crypto/rand; Rand supplies the content key and the IV.
	Rand io.Reader
}

// ErrNoRecipient is returned by Decrypt when the message has no recipient
// info for the certificate: the message was not encrypted to it.
var ErrNoRecipient = errors.New("cms: no recipient info for this certificate")

// contentCipher describes one content-encryption algorithm.
type contentCipher struct {
	oid     asn1.ObjectIdentifier
	keySize int  // bytes
	gcm     bool // AES-GCM in AuthEnvelopedData, else AES-CBC in EnvelopedData
}

// cipherFor returns the algorithm of c.
func cipherFor(c ContentCipher) (contentCipher, error) {
	switch c {
	case AES256CBC:
		return contentCipher{oidAES256CBC, 32, false}, nil
	case AES128CBC:
		return contentCipher{oidAES128CBC, 16, false}, nil
	case AES128GCM:
		return contentCipher{oidAES128GCM, 16, true}, nil
	case AES256GCM:
		return contentCipher{oidAES256GCM, 32, true}, nil
	default:
		return contentCipher{}, fmt.Errorf("cms: unknown content cipher %d: use AES256CBC, AES128CBC, AES128GCM or AES256GCM", c)
	}
}

// cipherByOID returns the content-encryption algorithm that oid names.
func cipherByOID(oid asn1.ObjectIdentifier) (contentCipher, error) {
	for _, c := range []contentCipher{
		{oidAES128CBC, 16, false}, {oidAES192CBC, 24, false}, {oidAES256CBC, 32, false},
		{oidAES128GCM, 16, true}, {oidAES192GCM, 24, true}, {oidAES256GCM, 32, true},
	} {
		if c.oid.Equal(oid) {
			return c, nil
		}
	}
	return contentCipher{}, fmt.Errorf("cms: unsupported content-encryption algorithm %s: only AES-CBC and AES-GCM are supported", oid)
}
