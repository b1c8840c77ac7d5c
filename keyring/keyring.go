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
//	                       by lowercase fingerprint, and S/MIME identities:
//	                       PKCS#12 bundles as imported, still encrypted,
//	                       named "<SHA-256 of the certificate>.p12"
//	x509/                  DER X.509 certificates named by the lowercase hex
//	                       SHA-256 of the DER, as "ab/cdef..."
//	x509/anchors/          the trust anchors the user added, named the same
//	x509/crls/             cached CRLs, DER, named "<lowercase hex SHA-256
//	                       of the distribution point URL>.crl"
//	provenance/            where each OpenPGP key came from and when the
//	                       user confirmed it, one "<fingerprint>.json" a key
//	pgp.index              the lookup index of the certificate directory
//	                       (see Index below), rebuilt when missing or damaged
//	corrupt/               mode 0700: copies of corrupt stored files that an
//	                       import replaced, named "<fingerprint>.certificate.
//	                       <UTC time>" or "<fingerprint>.secret.<UTC time>"
//
// X.509 certificates follow RFC 5280 and are validated for S/MIME as
// RFC 8550 requires; see RecipientCertificate, SMIMEIdentity and
// VerifyCertificate. Only the user's trust anchors are trusted unless a
// CertPolicy adds the system's roots.
//
// # Revocation
//
// Every certificate of a verified chain but the trust anchor is checked
// against the CRL (RFC 5280 section 5) of its http:// and https:// CRL
// distribution points; the first point with a current CRL decides. Other
// points, such as ldap://, are skipped and named in the error or warning. A
// certificate without distribution points is not checked. A CRL is used
// from the cache while its NextUpdate is in the future, and fetched again
// after that. It must be issued and signed by the issuer of the
// certificate, with a ThisUpdate that is not in the future and no critical
// extension sealmail does not know. A revoked certificate is rejected with
// StatusRevoked, also when only an expired CRL lists it. When no current
// CRL can be had, CertPolicy decides: by default the certificate is
// accepted and CertPolicy.Warn is called, and RequireRevocationCheck
// rejects it with StatusRevocationUnknown. The cache is written without the
// lock, by atomic rename, and read without it. OCSP is not used.
//
// Divergences in revocation checking:
//   - Plain http:// is used for CRLs on any host, while sealmail accepts
//     plain HTTP elsewhere only on loopback addresses. CRL distribution
//     points are http:// by design (RFC 5280 section 4.2.1.13), and the
//     signature of the CA on the CRL, which is checked, protects it. A CRL
//     older than the cached one is rejected, so a replayed CRL cannot hide
//     a revocation that the cache has seen.
//   - Indirect CRLs, delta CRLs, CRLs with an issuing distribution point
//     and version 1 CRLs, which Go's crypto/x509 does not parse, are not
//     supported: such a CRL counts as one that cannot be had.
//
// Keys follow RFC 9580 (and RFC 4880 for the v4 keys GnuPG 2.2 reads).
// The OpenPGP library is github.com/ProtonMail/go-crypto, v2 API. Every write
// takes the flock on pgp.cert.d/writelock, as draft-nwjw-openpgp-cert-d
// requires of writers, and replaces files atomically, so other cert-d implementations may share the
// certificate directory. A key that is already stored is merged with the new
// one: the union of their user IDs, subkeys and signatures is kept.
//
// Divergences:
//   - The draft's trust root, pet names and tags are not written or read.
//   - Lookups see a key as the OpenPGP library parses it, which leaves out
//     user attributes (photo IDs), signatures of unsupported versions or
//     algorithms, signatures whose type does not belong where they sit, and
//     user IDs without a self-signature. Writes keep those packets: a stored
//     file is the packet-level union of what was stored, the library's merge
//     and the imported key, so a cert-d tool finds every packet it stored.
//     From an imported key, only signatures of the components that the merge
//     keeps and user attributes with a valid self-signature are added that
//     way. Trust, marker and padding packets are not stored.
//   - Keys with subkeys of an unsupported algorithm are rejected instead of
//     stored in part, and a key without a valid self-signature is rejected.
//   - A full secret key imported with another protection than the stored
//     copy replaces it, even with an older passphrase, because the two
//     cannot be compared without the passphrases.
//   - X.509 lookups read and parse every certificate, because chain
//     building needs the intermediates among them.
//
// # Index
//
// OpenPGP lookups by address, fingerprint or key ID go through an index,
// saved as "pgp.index" beside the certificate directory, that maps them to
// the certificates to parse. It is a cache of the directory. It is checked
// against the modification times of the directory and its prefix folders
// when a lookup finds nothing, when another sealmail process saved it, and
// at least once a second. So it follows what other processes and other
// cert-d tools write. A certificate that another cert-d tool adds for an
// address that already has one may go unseen for up to that second.
//
// Every method that writes (Import, ImportWithOptions, AddTrustAnchor,
// Confirm, Remove and RemoveKey) takes the writelock. Readers need no lock, because
// every write is an atomic rename or removal, so a read-only keyring can be
// read. A stored file that cannot be read or parsed is skipped by the
// lookups and reported by List and Find with StatusUnreadable, so one
// damaged file does not make the other keys unusable. Import replaces such
// a file and keeps its bytes in the folder "corrupt", outside the
// certificate directory, whose every file must be a certificate.
//
// ImportWithOptions also reads a received message (RFC 5322) and imports
// the OpenPGP keys in its Autocrypt header field (Autocrypt Level 1) and its
// application/pgp-keys parts (RFC 3156 section 7), as package
// keyring/mailkeys finds them. Only the user IDs for the sender's address
// are kept, the provenance records the origin and the sender, and a key the
// user confirmed for that address stays the one EncryptionKey returns.
//
// EncryptionKey and SigningKey find the key to use for an address; List,
// Find, Export and Remove serve the "keyring" commands of the CLI.
package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Keyring is a store of keys in one folder. It is safe for concurrent use,
// also by several processes.
type Keyring struct {
	dir       string
	certDir   string
	secretDir string

	// indexMu guards the certificate index of this process, when it was
	// last checked against the folder times, and the stamp of the saved
	// index file it was loaded from or saved to.
	indexMu      sync.Mutex
	index        *certIndex
	indexChecked time.Time
	indexStamp   fileStamp

	// lockWaitMu guards lockWait, the function set with OnLockWait.
	lockWaitMu sync.Mutex
	lockWait   func(path string)
}

// Open opens the keyring in dir, creating its layout if it does not exist.
// It takes the group and other permissions off dir and its folders, and
// rejects a dir that belongs to another user. It writes nothing to a
// keyring whose layout exists and whose folders are closed to other users,
// so a read-only keyring can be opened and read.
func Open(dir string) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create keyring folder %q: %w", dir, err)
	}
	// Another user who can write to the folder could replace the
	// certificates or the confirmations in it.
	if err := checkOwnFolder(dir); err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
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
	// The writelock file is created by the first writer that takes the
	// lock, so that a read-only keyring can still be read.
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
	StatusInvalid      Status = "invalid"           // no valid self-signature

	// StatusWeak is the status of a key whose primary key or selected
	// subkey is RSA with fewer than 2048 bits. It is about size only.
	StatusWeak Status = "weak"

	// StatusUnsupported is the status of a key whose primary key, or whose
	// only subkey for the job, uses an algorithm or curve that sealmail
	// does not sign or encrypt with: DSA, ElGamal or the secp256k1 curve.
	StatusUnsupported Status = "unsupported"

	// StatusNoSigningSecret is the status of a secret key whose signing key
	// has no secret key material, as in a GnuPG stub. SigningKey only.
	StatusNoSigningSecret Status = "no-signing-secret"

	// StatusUnreadable is the status List and Find give a stored file that
	// could not be read or parsed. Entry.Path names the file and
	// Entry.Problem the cause. Lookups skip such files.
	StatusUnreadable Status = "unreadable"
)

// LookupError is the reason no usable key was found for an address, or, from
// Find, why no key matched a query.
type LookupError struct {
	Address     string
	Status      Status // empty when no key has the address
	Fingerprint string // the key that was found but is unusable, if any
	Err         error  // detail from the OpenPGP library, if any
	// Secret is set when the lookup was for the user's own secret key.
	Secret bool
	// Expired is when the key expired, for StatusExpired.
	Expired time.Time
	// Unreadable lists the stored files that the lookup skipped because
	// they could not be read. Any of them may hold the key that was not
	// found, so the message names them.
	Unreadable []string
	// HeldBack names the newest usable key for Address when the key the
	// user confirmed for it, which Status, Fingerprint and Expired
	// describe, is unusable. It is set only when every usable key came
	// from a message or a Web Key Directory, and EncryptionKey uses none.
	HeldBack *HeldBackKey
}

// HeldBackKey is an unconfirmed key that EncryptionKey did not use in
// place of the unusable key that the user confirmed for the address.
type HeldBackKey struct {
	Fingerprint string // lowercase hex
	// Origin and Source are those of its user ID for the address.
	Origin Origin
	Source string
}

func (e *LookupError) Error() string {
	return e.message() + unreadableNote(e.Unreadable)
}

// message returns the error message without the note on unreadable files.
func (e *LookupError) message() string {
	if e.Status == "" {
		if e.Secret {
			return fmt.Sprintf("no secret key for %q; import yours with \"sealmail keyring import\"", e.Address)
		}
		if !strings.Contains(e.Address, "@") {
			return fmt.Sprintf("no key with the fingerprint or key ID %q in the keyring; list the stored keys with \"sealmail keyring list\"", e.Address)
		}
		return fmt.Sprintf("no key for %q in the keyring; import one with \"sealmail keyring import\"", e.Address)
	}

	kind := "key"
	if e.Secret {
		kind = "secret key"
	}
	if e.HeldBack != nil {
		held := strings.ToUpper(e.HeldBack.Fingerprint)
		return fmt.Sprintf("no usable %s for %q: the confirmed %s, and the key 0x%s, which came from %s, was never confirmed for it, so sealmail does not use it instead; check its fingerprint with the owner of %s and run \"sealmail keyring confirm %s\" to use it",
			kind, e.Address, e.reason(), held, describeArrival(AddressProvenance{Origin: e.HeldBack.Origin, Source: e.HeldBack.Source}), e.Address, held)
	}
	message := fmt.Sprintf("no usable %s for %q: %s", kind, e.Address, e.reason())
	if e.Status == StatusNoSigningSecret {
		message += "; " + stubHint
	}
	return message
}

// reason returns why the key of e is unusable, starting with "key 0x" and
// its fingerprint.
func (e *LookupError) reason() string {
	key := "key 0x" + strings.ToUpper(e.Fingerprint)
	var reason string
	switch e.Status {
	case StatusExpired:
		reason = key + " expired"
		if !e.Expired.IsZero() {
			reason += " on " + e.Expired.UTC().Format(time.DateOnly)
		}
		return reason
	case StatusRevoked:
		return key + " is revoked"
	case StatusUnsupported:
		var algorithm *algorithmError
		switch {
		case errors.As(e.Err, &algorithm) && algorithm.subkey == "":
			// The detail is a predicate: "uses the DSA algorithm, ...".
			return key + " " + e.Err.Error()
		case e.Err != nil:
			return key + ": " + e.Err.Error()
		default:
			return key + " uses an algorithm that sealmail does not sign or encrypt with"
		}
	case StatusNoEncryption:
		reason = key + " has no valid encryption subkey"
	case StatusNoSigning:
		reason = key + " has no valid signing key"
	case StatusNoSigningSecret:
		reason = key + " has no usable signing key"
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
	return reason
}

func (e *LookupError) Unwrap() error { return e.Err }

// ErrNotFound is wrapped by the error of a lookup, Find, Export or Remove
// when no stored key matches.
var ErrNotFound = errors.New("not found")

// EncryptionKey returns the certificate to encrypt to for address: a key
// with a valid user ID for the address and a valid encryption subkey at now.
// Among several such keys the newest is used. The error is a *LookupError.
//
// Certificate files that cannot be read are skipped, which keeps the lookup
// fail-closed: a recipient whose only key is in such a file is not found,
// and the error names the skipped files.
//
// The certificate keeps all its subkeys, so that the OpenPGP library picks
// the newest valid encryption subkey when it encrypts.
func (k *Keyring) EncryptionKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	certs, unreadable, err := k.certsForAddress(ctx, address)
	if err != nil {
		return nil, err
	}
	key, err := pickKey(certs, address, now, false, encryptionStatus, k.trustFor(address))
	return key, withUnreadable(err, unreadable)
}

// SigningKey returns the user's secret key for address, still locked. The
// error is a *LookupError.
//
// Revocations and new self-signatures imported with the certificate are
// merged into the returned key, so a key revoked after its secret was
// imported is reported as revoked. A secret key whose secret key file or
// certificate file cannot be read is skipped, as EncryptionKey skips
// certificates, because a revocation could hide in the unreadable
// certificate.
func (k *Keyring) SigningKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	secrets, unreadable, err := k.readSecrets(ctx)
	if err != nil {
		return nil, err
	}

	usable := secrets[:0]
	for _, secret := range secrets {
		fpr := hexFingerprint(secret.PrimaryKey.Fingerprint)
		cert, err := k.readCert(fpr)
		if file := asUnreadable(err); file != nil {
			unreadable = append(unreadable, file)
			continue
		}
		if err != nil {
			return nil, err
		}
		if cert != nil {
			mergeEntity(secret, cert, false)
		}
		usable = append(usable, secret)
	}
	key, err := pickKey(usable, address, now, true, signingStatus, nil)
	return key, withUnreadable(err, unreadable)
}

// keyTrust is the provenance of a key for the address pickKey looks up.
type keyTrust struct {
	confirmed bool              // the user confirmed the key for the address
	arrival   AddressProvenance // of the key's user ID for the address
}

// pickKey returns the newest key among keys that has a user ID for address
// and whose status at now is valid, or a *LookupError with the reason why the
// newest key with the address confirmed for it, or else the newest key with
// the address, is unusable.
//
// When trustOf is not nil, a key confirmed for the address is preferred to
// any other, so a key that arrives later, as from a Web Key Directory,
// does not displace the key the user checked. When every key confirmed for
// the address is unusable, only an unconfirmed key that the user imported
// by hand may take its place. A key from a message or a Web Key Directory is
// what confirmation guards against, so the lookup then fails closed with a
// LookupError that names both keys.
func pickKey(keys []*openpgp.Entity, address string, now time.Time, secret bool,
	statusOf func(*openpgp.Entity, time.Time) (Status, error), trustOf func(*openpgp.Entity) keyTrust) (*openpgp.Entity, error) {
	want := normalizeAddress(address)

	// The newest usable keys: confirmed for the address, unconfirmed from
	// the user's hand, and unconfirmed from elsewhere.
	var confirmed, byUser, other *openpgp.Entity
	var otherArrival AddressProvenance
	var unusable, confirmedUnusable *openpgp.Entity
	var failure, confirmedFailure *LookupError
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
		var trust keyTrust
		if trustOf != nil {
			trust = trustOf(e)
		}

		if status == StatusValid {
			switch {
			case trust.confirmed:
				if confirmed == nil || newer(e, confirmed) {
					confirmed = e
				}
			case trustOf == nil || byHand(trust.arrival.Origin):
				if byUser == nil || newer(e, byUser) {
					byUser = e
				}
			default:
				if other == nil || newer(e, other) {
					other, otherArrival = e, trust.arrival
				}
			}
			continue
		}

		if unusable == nil || newer(e, unusable) {
			unusable = e
			failure = lookupFailure(e, address, status, detail, secret)
		}
		if trust.confirmed && (confirmedUnusable == nil || newer(e, confirmedUnusable)) {
			confirmedUnusable = e
			confirmedFailure = lookupFailure(e, address, status, detail, secret)
		}
	}

	switch {
	case confirmed != nil:
		return confirmed, nil
	case confirmedFailure != nil && byUser == nil && other != nil:
		confirmedFailure.HeldBack = &HeldBackKey{
			Fingerprint: hexFingerprint(other.PrimaryKey.Fingerprint),
			Origin:      otherArrival.Origin,
			Source:      otherArrival.Source,
		}
		return nil, confirmedFailure
	case byUser != nil && (other == nil || confirmedFailure != nil || newer(byUser, other)):
		return byUser, nil
	case other != nil:
		return other, nil
	case confirmedFailure != nil:
		// The key the user checked is the one the user expects, so its
		// failure is the one to report, not that of a newer unconfirmed
		// key.
		return nil, confirmedFailure
	case failure != nil:
		return nil, failure
	default:
		return nil, &LookupError{Address: address, Err: ErrNotFound, Secret: secret}
	}
}

// lookupFailure returns the LookupError for the unusable key e, whose
// status at the time of the lookup is status, with detail.
func lookupFailure(e *openpgp.Entity, address string, status Status, detail error, secret bool) *LookupError {
	failure := &LookupError{
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
	return failure
}

// trustFor returns the keyTrust function of pickKey for address. A
// provenance that cannot be read counts as unconfirmed, and as an arrival
// of unknown origin.
func (k *Keyring) trustFor(address string) func(*openpgp.Entity) keyTrust {
	return func(e *openpgp.Entity) keyTrust {
		p, err := k.readProvenance(hexFingerprint(e.PrimaryKey.Fingerprint))
		if err != nil {
			return keyTrust{}
		}
		return keyTrust{confirmed: p.ConfirmedFor(address), arrival: p.Address(address)}
	}
}

// isConfirmedFor reports whether the user confirmed e for address. A
// provenance that cannot be read counts as unconfirmed.
func (k *Keyring) isConfirmedFor(e *openpgp.Entity, address string) bool {
	p, err := k.readProvenance(hexFingerprint(e.PrimaryKey.Fingerprint))
	return err == nil && p.ConfirmedFor(address)
}

// newer reports whether key a was created after key b; fingerprints break
// ties, so the choice never depends on the order of files.
func newer(a, b *openpgp.Entity) bool {
	if !a.PrimaryKey.CreationTime.Equal(b.PrimaryKey.CreationTime) {
		return a.PrimaryKey.CreationTime.After(b.PrimaryKey.CreationTime)
	}
	return hexFingerprint(a.PrimaryKey.Fingerprint) > hexFingerprint(b.PrimaryKey.Fingerprint)
}

// displayFingerprint returns the fingerprint of e as "0x" and uppercase hex.
func displayFingerprint(e *openpgp.Entity) string {
	return "0x" + strings.ToUpper(hexFingerprint(e.PrimaryKey.Fingerprint))
}
