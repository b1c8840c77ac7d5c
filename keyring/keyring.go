// Package keyring stores the OpenPGP certificates of recipients and the
// user's own secret keys under a folder, and looks keys up by address.
//
// STUB: the contract below is fixed; the implementation is being written.
//
// Layout under the folder given to Open:
//
//	pgp.cert.d/            the shared OpenPGP certificate directory
//	                       (draft-nwjw-openpgp-cert-d): binary certificates
//	                       named by lowercase fingerprint as "ab/cdef...",
//	                       and a "writelock" file
//	secret/                mode 0700: the user's secret keys, one binary
//	                       transferable secret key a file, mode 0600, named
//	                       by lowercase fingerprint
package keyring

import (
	"errors"
	"io"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Keyring is a store of keys in one folder. It is safe for concurrent use.
type Keyring struct {
	dir string
}

// Open opens the keyring in dir, creating its layout if it does not exist.
func Open(dir string) (*Keyring, error) { panic("unimplemented") }

// Imported describes one key that Import stored.
type Imported struct {
	Fingerprint string   // lowercase hex
	UserIDs     []string // as in the key
	Secret      bool     // a secret key was stored too
	Updated     bool     // the key was already stored and was merged
}

// Import reads OpenPGP keys from r, armored (any number of blocks) or
// binary (any number of keys), and stores them. Public certificates go to the
// certificate directory; secret keys go to the secret folder and their public
// part to the certificate directory. A key already stored is merged with the
// new packets, never replaced by fewer.
func (k *Keyring) Import(r io.Reader) ([]Imported, error) { panic("unimplemented") }

// Status is the usability of a key for encryption at a given time.
type Status string

const (
	StatusValid        Status = "valid"
	StatusExpired      Status = "expired"
	StatusRevoked      Status = "revoked"
	StatusNoEncryption Status = "no-encryption-key" // no valid encryption subkey
	StatusWeak         Status = "weak"              // RSA under 2048 bits
	StatusInvalid      Status = "invalid"           // no valid self-signature
)

// Entry is one key as List reports it. Its JSON form is the stable document
// of "keyring list --json".
type Entry struct {
	Fingerprint string     `json:"fingerprint"`
	UserIDs     []string   `json:"user_ids"`
	Addresses   []string   `json:"addresses"` // lowercase
	Algorithm   string     `json:"algorithm"` // "rsa3072", "ed25519", ...
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires,omitempty"`
	Status      Status     `json:"status"`
	Secret      bool       `json:"secret"`
}

// List returns every stored key, sorted by primary address, then fingerprint.
func (k *Keyring) List(now time.Time) ([]Entry, error) { panic("unimplemented") }

// LookupError says why no usable key was found for an address.
type LookupError struct {
	Address     string
	Status      Status // empty when no key has the address
	Fingerprint string // the key that was found but is unusable, if any
	Err         error  // detail from the OpenPGP library, if any
}

func (e *LookupError) Error() string { panic("unimplemented") }

func (e *LookupError) Unwrap() error { return e.Err }

// ErrNotFound is wrapped by a LookupError when no key has the address.
var ErrNotFound = errors.New("no key for this address")

// EncryptionKey returns the certificate to encrypt to for address: a key
// with a valid user ID for the address and a valid encryption subkey at now.
// Among several such keys the newest is used. The error is a *LookupError.
func (k *Keyring) EncryptionKey(address string, now time.Time) (*openpgp.Entity, error) {
	panic("unimplemented")
}

// SigningKey returns the user's secret key for address, still locked. The
// error is a *LookupError.
func (k *Keyring) SigningKey(address string, now time.Time) (*openpgp.Entity, error) {
	panic("unimplemented")
}

// ErrWrongPassphrase is returned by Unlock when the passphrase does not
// decrypt the key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Unlock decrypts the secret key material of e with passphrase. A key that
// is not encrypted is left as it is.
func Unlock(e *openpgp.Entity, passphrase []byte) error { panic("unimplemented") }

// Locked reports whether any secret key material of e is encrypted.
func Locked(e *openpgp.Entity) bool { panic("unimplemented") }

// GenerateOptions choose the kind of key Generate makes. The zero value makes
// a v4 Ed25519 primary key with a Cv25519 encryption subkey, which GnuPG 2.2
// reads.
type GenerateOptions struct {
	// RSABits, when not zero, makes an RSA key of that size instead (2048,
	// 3072 or 4096).
	RSABits int
	// Lifetime, when not zero, makes the key expire that long after Now.
	Lifetime time.Duration
	// Now is the creation time; zero means time.Now().
	Now time.Time
}

// Generate makes a new key for name and address. The secret key material is
// not encrypted; call Entity.EncryptPrivateKeys to protect it.
func Generate(name, address string, opts GenerateOptions) (*openpgp.Entity, error) {
	panic("unimplemented")
}
