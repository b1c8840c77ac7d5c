// Package pgpmime protects MIME entities with OpenPGP as RFC 3156 (PGP/MIME)
// describes, and reads such entities back.
//
// Sign writes multipart/signed with a detached, armored signature. Encrypt
// writes multipart/encrypted, optionally signed inside the OpenPGP message.
// Open decrypts and verifies either. The OpenPGP messages follow RFC 9580,
// with v4 keys as RFC 4880 defines them, on ProtonMail/go-crypto's openpgp/v2.
//
// Every call writes CRLF line endings only, and it streams: the entity is
// never held in memory whole, so a failed call can leave a partial message
// in the writer. Checks that need the whole output (the hash announced in
// micalg, the packet that carries the encrypted data) fail after the body
// was written, so callers write to a buffer or a file they can discard.
//
// Divergences from RFC 3156:
//   - For sign+encrypt, Encrypt writes only the combined form of section 6.2
//     (one OpenPGP message, signed and encrypted), never the nested form of
//     section 6.1. Open reads both.
//   - The entity a caller writes must already be 7-bit with CRLF line
//     endings and lines of at most 998 octets. Sign and Encrypt reject it
//     otherwise instead of re-encoding it, because the bytes hashed are the
//     bytes sent. Sign also rejects trailing white space and lines that
//     start with "From ", which relays rewrite.
//   - The detached signature has the text type (0x01). Its data is CRLF
//     already, so this equals the binary form, and it also verifies with
//     readers that hand the part over with LF line endings.
//   - The cipher is AES-256 when every recipient lists it among its
//     preferred ciphers, as keys from GnuPG and sealmail do. Otherwise it is
//     the strongest cipher that every recipient lists (AES-128 at worst),
//     because a recipient may not read a cipher it does not list.
package pgpmime

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
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

// ErrNotPGPMIME is returned by Open for an entity that is neither
// multipart/signed with protocol application/pgp-signature nor
// multipart/encrypted with protocol application/pgp-encrypted.
var ErrNotPGPMIME = errors.New("pgpmime: not a PGP/MIME entity")

// config returns the go-crypto configuration of one call: AES-256 and
// SHA-256 at least, no compression (it leaks plaintext length patterns).
func (o *Options) config() *packet.Config {
	config := &packet.Config{
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
	if o != nil {
		config.Time = o.Now
		config.Rand = o.Rand
	}
	return config
}

// micalgNames maps the hashes a PGP/MIME signature may use to their micalg
// names without the "pgp-" prefix (RFC 3156 section 5, with the text names
// of the hash algorithm registry of RFC 9580).
var micalgNames = map[crypto.Hash]string{
	crypto.SHA224:   "sha224",
	crypto.SHA256:   "sha256",
	crypto.SHA384:   "sha384",
	crypto.SHA512:   "sha512",
	crypto.SHA3_256: "sha3-256",
	crypto.SHA3_512: "sha3-512",
}

// weakHashNames names the hashes Open reports but Sign never writes.
var weakHashNames = map[crypto.Hash]string{
	crypto.MD5:       "md5",
	crypto.SHA1:      "sha1",
	crypto.RIPEMD160: "ripemd160",
}

// hashName returns the micalg name of h without the "pgp-" prefix, or the
// name crypto.Hash gives it when micalg has none.
func hashName(h crypto.Hash) string {
	if name, ok := micalgNames[h]; ok {
		return name
	}
	if name, ok := weakHashNames[h]; ok {
		return name
	}
	return h.String()
}

// micalgFor returns the micalg parameter for a signature made with h, and
// an error for hashes too weak to sign with (SHA-1 and older).
func micalgFor(h crypto.Hash) (string, error) {
	name, ok := micalgNames[h]
	if !ok {
		return "", fmt.Errorf("pgpmime: signature hash %s is not allowed, need SHA-224 or stronger", h)
	}
	return "pgp-" + name, nil
}
