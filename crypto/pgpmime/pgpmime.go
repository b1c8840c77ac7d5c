// Package pgpmime protects MIME entities with OpenPGP as RFC 3156 (PGP/MIME)
// describes, and reads such entities back.
//
// STUB: the contract below is fixed; the implementation is being written.
package pgpmime

import (
	"io"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Options tune one call. The zero value (or nil) is safe: AES-256, SHA-256 or
// stronger, the current time and crypto/rand.
type Options struct {
	// Now returns the signature creation time; nil means time.Now.
	Now func() time.Time
	// Rand is the source of randomness; nil means crypto/rand.Reader.
	Rand io.Reader
}

// BodyFunc writes the MIME entity to protect: its header fields (no
// MIME-Version), an empty line and its body, in 7-bit form with CRLF line
// endings.
type BodyFunc func(w io.Writer) error

// Sign writes a multipart/signed entity (RFC 3156 section 5) to w: the header
// field Content-Type with protocol and micalg, an empty line and the body. The
// micalg parameter names the hash of the signature actually produced. The
// bytes body writes are signed and written to w unchanged.
func Sign(w io.Writer, signer *openpgp.Entity, body BodyFunc, opts *Options) error {
	panic("unimplemented")
}

// Encrypt writes a multipart/encrypted entity (RFC 3156 section 4) to w: the
// header field Content-Type, an empty line and the body with its two parts.
// The OpenPGP message is encrypted to the newest valid encryption subkey of
// each recipient with AES-256 in SEIPDv1, or SEIPDv2 when every recipient key
// advertises it. When signer is not nil the OpenPGP message is also signed
// (the combined form of RFC 3156 section 6.2). Encrypt fails if the produced
// message does not list exactly one key per recipient.
func Encrypt(w io.Writer, recipients []*openpgp.Entity, signer *openpgp.Entity, body BodyFunc, opts *Options) error {
	panic("unimplemented")
}

// Opened is a PGP/MIME message read back by Open.
type Opened struct {
	// Entity is the protected MIME entity: decrypted for an encrypted
	// message, the first part for a signed one.
	Entity []byte
	// Encrypted reports whether the message was multipart/encrypted.
	Encrypted bool
	// RecipientKeyIDs lists the key IDs the message was encrypted to.
	RecipientKeyIDs []uint64
	// Signed reports whether a signature was found.
	Signed bool
	// Signer is the fingerprint (lowercase hex) of the key that made a good
	// signature; empty when no signature verified.
	Signer string
	// SignatureErr says why the signature did not verify; nil when it did or
	// when there was none.
	SignatureErr error
	// Hash is the hash algorithm of the signature, as micalg names it
	// without the "pgp-" prefix ("sha256").
	Hash string
}

// Open reads a complete message (header and body) or MIME entity, decrypts
// it with the secret keys in keys and verifies its signature with the public
// keys in keys.
func Open(r io.Reader, keys openpgp.KeyRing, opts *Options) (*Opened, error) {
	panic("unimplemented")
}
