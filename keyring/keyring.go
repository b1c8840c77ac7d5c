// Package keyring stores the OpenPGP certificates of recipients and the
// user's own secret keys under a folder, and looks keys up by address.
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
//
// Keys follow RFC 9580 (and RFC 4880 for the v4 keys GnuPG 2.2 reads);
// the OpenPGP library is github.com/ProtonMail/go-crypto, v2 API. Every write
// holds the flock on pgp.cert.d/writelock, as the draft requires of writers, and
// replaces files atomically, so other cert-d implementations may share the
// certificate directory. A key that is already stored is merged with the new
// one: the union of their user IDs, subkeys and signatures is kept.
//
// Divergences:
//   - The draft's trust root, pet names and tags are not written or read.
//   - Certificates are rewritten from their parsed form, so packets the
//     OpenPGP library does not keep are dropped: user attributes (photo IDs),
//     signatures of unsupported versions or algorithms, and signatures whose
//     type does not belong where they sit. Keys with subkeys of an
//     unsupported algorithm are rejected instead of stored in part.
//   - A key without a valid self-signature is rejected on import.
//   - Lookups read and parse every certificate; there is no index yet.
package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Keyring is a store of keys in one folder. It is safe for concurrent use,
// also by several processes.
type Keyring struct {
	dir       string
	certDir   string
	secretDir string
}

// Open opens the keyring in dir, creating its layout if it does not exist.
func Open(dir string) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create keyring folder %q: %w", dir, err)
	}
	k := &Keyring{
		dir:       dir,
		certDir:   filepath.Join(dir, certDirName),
		secretDir: filepath.Join(dir, secretDirName),
	}

	if err := makeDir(k.certDir); err != nil {
		return nil, err
	}
	if err := makeDir(k.secretDir); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(k.certDir, writeLockName)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to create lock file %q: %w", lockPath, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("failed to create lock file %q: %w", lockPath, err)
	}
	return k, nil
}

// Status is the usability of a key for encryption at a given time.
type Status string

const (
	StatusValid        Status = "valid"
	StatusExpired      Status = "expired"
	StatusRevoked      Status = "revoked"
	StatusNoEncryption Status = "no-encryption-key" // no valid encryption subkey
	StatusNoSigning    Status = "no-signing-key"    // no valid signing key; SigningKey only
	StatusWeak         Status = "weak"              // RSA under 2048 bits
	StatusInvalid      Status = "invalid"           // no valid self-signature

	// StatusNoSigningSecret is the status of a secret key whose signing key
	// has no secret key material, as in a GnuPG stub. SigningKey only.
	StatusNoSigningSecret Status = "no-signing-secret"
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
// Status is the usability for encryption at now.
func (k *Keyring) List(ctx context.Context, now time.Time) ([]Entry, error) {
	certs, err := k.readCerts(ctx)
	if err != nil {
		return nil, err
	}
	secrets, err := k.secretFingerprints()
	if err != nil {
		return nil, err
	}
	hasSecret := make(map[string]bool, len(secrets))
	for _, fpr := range secrets {
		hasSecret[fpr] = true
	}

	entries := make([]Entry, 0, len(certs))
	primaryAddresses := make(map[string]string, len(certs))
	for _, cert := range certs {
		fpr := hexFingerprint(cert.PrimaryKey.Fingerprint)
		status, _ := encryptionStatus(cert, now)
		entries = append(entries, Entry{
			Fingerprint: fpr,
			UserIDs:     userIDs(cert),
			Addresses:   addresses(cert),
			Algorithm:   algorithmName(cert.PrimaryKey),
			Created:     cert.PrimaryKey.CreationTime,
			Expires:     keyExpiry(cert),
			Status:      status,
			Secret:      hasSecret[fpr],
		})
		primaryAddresses[fpr] = primaryAddress(cert)
	}

	sort.Slice(entries, func(i, j int) bool {
		a, b := primaryAddresses[entries[i].Fingerprint], primaryAddresses[entries[j].Fingerprint]
		if a != b {
			return a < b
		}
		return entries[i].Fingerprint < entries[j].Fingerprint
	})
	return entries, nil
}

// LookupError says why no usable key was found for an address.
type LookupError struct {
	Address     string
	Status      Status // empty when no key has the address
	Fingerprint string // the key that was found but is unusable, if any
	Err         error  // detail from the OpenPGP library, if any
	// Secret is set when the lookup was for the user's own secret key.
	Secret bool
	// Expired is when the key expired, for StatusExpired.
	Expired time.Time
}

func (e *LookupError) Error() string {
	if e.Status == "" {
		if e.Secret {
			return fmt.Sprintf("no secret key for %q; import yours with \"sealmail keyring import\"", e.Address)
		}
		return fmt.Sprintf("no key for %q in the keyring; import one with \"sealmail keyring import\"", e.Address)
	}

	kind := "key"
	if e.Secret {
		kind = "secret key"
	}
	key := "key 0x" + strings.ToUpper(e.Fingerprint)
	var reason string
	switch e.Status {
	case StatusExpired:
		reason = key + " expired"
		if !e.Expired.IsZero() {
			reason += " on " + e.Expired.UTC().Format(time.DateOnly)
		}
		return fmt.Sprintf("no usable %s for %q: %s", kind, e.Address, reason)
	case StatusRevoked:
		return fmt.Sprintf("no usable %s for %q: %s is revoked", kind, e.Address, key)
	case StatusNoEncryption:
		reason = key + " has no valid encryption subkey"
	case StatusNoSigning:
		reason = key + " has no valid signing key"
	case StatusNoSigningSecret:
		reason = key + " has no usable signing key"
		if e.Err != nil {
			reason += ": " + e.Err.Error()
		}
		return fmt.Sprintf("no usable %s for %q: %s; %s", kind, e.Address, reason, stubHint)
	case StatusWeak:
		reason = key + " is too weak"
	case StatusInvalid:
		reason = key + " is invalid"
	default:
		reason = key + " is " + string(e.Status)
	}
	if e.Err != nil {
		reason += ": " + e.Err.Error()
	}
	return fmt.Sprintf("no usable %s for %q: %s", kind, e.Address, reason)
}

func (e *LookupError) Unwrap() error { return e.Err }

// ErrNotFound is wrapped by a LookupError when no key has the address.
var ErrNotFound = errors.New("no key for this address")

// EncryptionKey returns the certificate to encrypt to for address: a key
// with a valid user ID for the address and a valid encryption subkey at now.
// Among several such keys the newest is used. The error is a *LookupError.
//
// The certificate keeps all its subkeys, so that the OpenPGP library picks
// the newest valid encryption subkey when it encrypts.
func (k *Keyring) EncryptionKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	certs, err := k.readCerts(ctx)
	if err != nil {
		return nil, err
	}
	return pickKey(certs, address, now, false, encryptionStatus)
}

// SigningKey returns the user's secret key for address, still locked. The
// error is a *LookupError.
//
// Revocations and new self-signatures imported with the certificate are
// merged into the returned key, so a key revoked after its secret was
// imported is reported as revoked.
func (k *Keyring) SigningKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fprs, err := k.secretFingerprints()
	if err != nil {
		return nil, err
	}

	var secrets []*openpgp.Entity
	for _, fpr := range fprs {
		secret, err := k.readSecret(fpr)
		if err != nil {
			return nil, err
		}
		if secret == nil {
			continue
		}
		cert, err := k.readCert(fpr)
		if err != nil {
			return nil, err
		}
		if cert != nil {
			mergeEntity(secret, cert, false)
		}
		secrets = append(secrets, secret)
	}
	return pickKey(secrets, address, now, true, signingStatus)
}

// pickKey returns the newest key among keys that has a user ID for address
// and whose status at now is valid, or a *LookupError with the reason why the
// newest key with the address is unusable.
func pickKey(keys []*openpgp.Entity, address string, now time.Time, secret bool,
	statusOf func(*openpgp.Entity, time.Time) (Status, error)) (*openpgp.Entity, error) {
	want := normalizeAddress(address)

	var usable, unusable *openpgp.Entity
	var failure *LookupError
	for _, e := range keys {
		identity := identityFor(e, want)
		if identity == nil {
			continue
		}

		status, detail := statusOf(e, now)
		if status == StatusValid {
			if _, err := identity.Verify(now, nil); err != nil {
				status = StatusInvalid
				detail = fmt.Errorf("user ID %q is not valid: %w", identity.Name, err)
			}
		}
		if status == StatusValid {
			if usable == nil || newer(e, usable) {
				usable = e
			}
			continue
		}

		if unusable == nil || newer(e, unusable) {
			unusable = e
			failure = &LookupError{
				Address:     address,
				Status:      status,
				Fingerprint: hexFingerprint(e.PrimaryKey.Fingerprint),
				Err:         detail,
				Secret:      secret,
			}
			if status == StatusExpired {
				if expiry := keyExpiry(e); expiry != nil {
					failure.Expired = *expiry
				}
			}
		}
	}

	switch {
	case usable != nil:
		return usable, nil
	case failure != nil:
		return nil, failure
	default:
		return nil, &LookupError{Address: address, Err: ErrNotFound, Secret: secret}
	}
}

// newer reports whether key a was created after key b; fingerprints break
// ties, so the choice never depends on the order of files.
func newer(a, b *openpgp.Entity) bool {
	if !a.PrimaryKey.CreationTime.Equal(b.PrimaryKey.CreationTime) {
		return a.PrimaryKey.CreationTime.After(b.PrimaryKey.CreationTime)
	}
	return hexFingerprint(a.PrimaryKey.Fingerprint) > hexFingerprint(b.PrimaryKey.Fingerprint)
}

// readCerts parses every certificate in the certificate directory.
// readCerts parses every stored certificate; ctx stops it between files.
func (k *Keyring) readCerts(ctx context.Context) ([]*openpgp.Entity, error) {
	fprs, err := k.certFingerprints()
	if err != nil {
		return nil, err
	}

	certs := make([]*openpgp.Entity, 0, len(fprs))
	for _, fpr := range fprs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cert, err := k.readCert(fpr)
		if err != nil {
			return nil, err
		}
		if cert != nil {
			certs = append(certs, cert)
		}
	}
	return certs, nil
}

// readCert returns the stored certificate with fingerprint fpr, or nil.
// NOTE: a certificate file that the OpenPGP library cannot parse fails every
// lookup, so that a key is never silently ignored.
func (k *Keyring) readCert(fpr string) (*openpgp.Entity, error) {
	data, err := readOptional(k.certPath(fpr))
	if err != nil || data == nil {
		return nil, err
	}
	return parseStored(data, fpr)
}

// readSecret returns the stored secret key with fingerprint fpr, or nil.
func (k *Keyring) readSecret(fpr string) (*openpgp.Entity, error) {
	data, err := readOptional(k.secretPath(fpr))
	if err != nil || data == nil {
		return nil, err
	}
	e, err := parseStored(data, fpr)
	if err != nil {
		return nil, err
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("failed to read stored secret key %s: the file contains no secret key", fpr)
	}
	return e, nil
}

// displayFingerprint returns the fingerprint of e as "0x" and uppercase hex.
func displayFingerprint(e *openpgp.Entity) string {
	return "0x" + strings.ToUpper(hexFingerprint(e.PrimaryKey.Fingerprint))
}
