package keyring

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Imported describes one key or certificate that Import stored.
type Imported struct {
	Fingerprint string   // lowercase hex
	UserIDs     []string // as in the key
	Secret      bool     // a secret key was stored too
	Updated     bool     // the key was already stored and was merged
	// Unchanged is set with Updated when the stored key already had
	// everything the input has, so nothing was written.
	Unchanged bool
	// NowRevoked is set when the import revoked a stored key, as a
	// revocation certificate does.
	NowRevoked bool
	// NewProtection is set when the imported secret key material replaced
	// the stored copy of the same key, which had another protection, as
	// after a passphrase change in GnuPG. Every new secret key export of
	// GnuPG sets it, because GnuPG protects each export with a fresh salt.
	NewProtection bool
	// Warning is a message for the user, or "". It reports, for example,
	// a stored secret key that cannot sign (such as a GnuPG stub primary
	// key without a signing subkey), or an unreadable stored file of the
	// key that was replaced, with the path of its old bytes. Several
	// warnings are joined by "; ".
	Warning string
	// Kind is KindOpenPGP or KindX509.
	Kind string
	// Location names where in a message an X.509 certificate was found,
	// such as `part 2 (application/pkcs7-mime, "smime.p7c") of the message
	// from bob@example.org`. It is empty for other input, and for OpenPGP
	// keys, whose Provenance records their origin.
	Location string

	// addresses are the addresses of the stored key after the merge, for
	// recordArrival.
	addresses []string
}

// The kinds of key that Imported and Entry describe.
const (
	KindOpenPGP = "openpgp"
	KindX509    = "x509"
)

// Import reads OpenPGP keys from r, armored (any number of blocks) or
// binary (any number of keys), and stores them. Public certificates go to the
// certificate directory; secret keys go to the secret folder and their public
// part to the certificate directory. A key already stored is merged with the
// new packets, never replaced by fewer.
//
// A key revocation signature without its key, as in a revocation
// certificate, is added to the stored key it revokes.
//
// The stored result is the packet-level union of the stored file and the
// imported key, so packets that the OpenPGP library does not read, such as
// user attributes (photo IDs), stay. An imported user attribute is added
// only with a valid self-signature. Secret key material of the import
// replaces a stored GnuPG stub, and the stored material of another
// protection (Imported.NewProtection); a stub never replaces key material.
//
// A stored file of the key that cannot be parsed is replaced by the
// imported key, because there is nothing to merge with. Its bytes are kept
// in the folder "corrupt" of the keyring, outside the certificate directory,
// and Imported.Warning names that copy.
//
// The whole input is read and checked before anything is stored, so input
// that cannot be read completely changes nothing. An input without keys
// returns an error wrapping ErrNoKey.
//
// X.509 certificates and PKCS#12 bundles are imported too, as
// ImportWithOptions describes, but a PKCS#12 bundle needs the password that
// only ImportWithOptions can supply.
func (k *Keyring) Import(ctx context.Context, r io.Reader) ([]Imported, error) {
	return k.ImportWithOptions(ctx, r, ImportOptions{})
}

// importOpenPGP imports the OpenPGP keys in data, as Import describes, with
// the options of ImportWithOptions.
func (k *Keyring) importOpenPGP(ctx context.Context, data []byte, opts ImportOptions) ([]Imported, error) {
	in, err := parseInput(data)
	if err != nil {
		return nil, err
	}
	var raw map[string][][]byte
	if opts.Address == "" {
		// With an address, only its user ID is kept, so the packets of the
		// input are not added back.
		raw = rawKeys(data)
	}
	skipped, err := checkImportOptions(&in, opts)
	if err != nil {
		return nil, err
	}
	origin := opts.Origin
	if origin == OriginUnknown {
		origin = OriginFile
	}

	unlock, err := k.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := k.refreshIndex(ctx); err != nil {
		return nil, err
	}
	defer k.saveIndexIfDirty()
	if opts.precheck != nil {
		if err := opts.precheck(ctx); err != nil {
			return nil, err
		}
	}

	// Revocations are checked against their keys before anything is
	// written, so an unknown or forged one changes nothing.
	targets := make([]string, len(in.revocations))
	for i, sig := range in.revocations {
		if targets[i], err = k.revocationTarget(ctx, sig, in.entities); err != nil {
			return nil, err
		}
	}

	now := time.Now()
	var imported []Imported
	for _, e := range in.entities {
		result, err := k.importEntity(e, raw[hexFingerprint(e.PrimaryKey.Fingerprint)])
		if err != nil {
			return imported, err
		}
		fpr := result.Fingerprint
		if err := k.recordArrival(fpr, result.addresses, origin, opts.Source, e.PrivateKey != nil, now); err != nil {
			return imported, err
		}
		if held, err := k.heldBack(ctx, e, now); err != nil {
			return imported, err
		} else if held != "" {
			result.Warning = joinWarnings(result.Warning, held)
		}
		imported = addImported(imported, result)
	}
	for i, sig := range in.revocations {
		result, err := k.importRevocation(targets[i], sig)
		if err != nil {
			return imported, err
		}
		imported = addImported(imported, result)
	}
	if len(skipped) > 0 && len(imported) > 0 {
		imported[0].Warning = joinWarnings(imported[0].Warning, fmt.Sprintf(
			"the input also contained %s, without a user ID for %s, which was not imported", strings.Join(skipped, ", "), opts.Address))
	}
	return imported, nil
}

// checkImportOptions applies ImportOptions.Address and PublicOnly to the
// parsed input, before anything is stored. It drops the user IDs for other
// addresses and rejects what the options forbid. With SkipOtherKeys, a key
// without a user ID for the address is dropped instead and its fingerprint
// returned, unless no key is left.
func checkImportOptions(in *keyInput, opts ImportOptions) (skipped []string, err error) {
	kept := in.entities[:0]
	for _, e := range in.entities {
		if opts.PublicOnly && e.PrivateKey != nil {
			return nil, fmt.Errorf("failed to import key %s: %w", displayFingerprint(e), ErrSecretKey)
		}
		if opts.Address == "" {
			kept = append(kept, e)
			continue
		}
		want := normalizeAddress(opts.Address)
		for name, identity := range e.Identities {
			if normalizeAddress(identityAddress(identity)) != want {
				delete(e.Identities, name)
			}
		}
		switch {
		case len(e.Identities) > 0:
			kept = append(kept, e)
		case opts.SkipOtherKeys:
			skipped = append(skipped, displayFingerprint(e))
		default:
			return nil, fmt.Errorf("failed to import key %s for %q: %w", displayFingerprint(e), opts.Address, ErrNoMatchingUserID)
		}
	}
	in.entities = kept
	if len(kept) == 0 && len(skipped) > 0 {
		return nil, fmt.Errorf("failed to import keys %s for %q: %w", strings.Join(skipped, ", "), opts.Address, ErrNoMatchingUserID)
	}
	return skipped, nil
}

// addImported appends result to list, or folds it into the entry for the
// same key when the input contained that key twice, as a public and a secret key.
func addImported(list []Imported, result Imported) []Imported {
	for i := range list {
		if list[i].Fingerprint == result.Fingerprint {
			list[i].UserIDs = result.UserIDs
			list[i].Secret = list[i].Secret || result.Secret
			list[i].Warning = joinWarnings(list[i].Warning, result.Warning)
			return list
		}
	}
	return append(list, result)
}

// joinWarnings joins the warnings a and b, either of which may be "", and
// drops b when a already contains it.
func joinWarnings(a, b string) string {
	switch {
	case b == "" || strings.Contains(a, b):
		return a
	case a == "":
		return b
	default:
		return a + "; " + b
	}
}

// importEntity merges e into the store, with the lock held. raw contains the
// binary packets of e in the input, or nil when they must not be added
// back.
func (k *Keyring) importEntity(e *openpgp.Entity, raw [][]byte) (Imported, error) {
	fpr := hexFingerprint(e.PrimaryKey.Fingerprint)
	cert, replaced, err := k.readForMerge(k.readCert(fpr))
	if err != nil {
		return Imported{}, err
	}
	updated := cert != nil
	wasRevoked := false
	if cert == nil {
		cert = e
	} else {
		wasRevoked = isRevoked(cert)
		mergeEntity(cert, e, true)
	}
	certChanged, err := k.storeEntity(fpr, cert, false, updated, raw)
	if err != nil {
		return Imported{}, err
	}

	result := Imported{Fingerprint: fpr, UserIDs: userIDs(cert), Updated: updated, Unchanged: updated && !certChanged,
		NowRevoked: updated && !wasRevoked && isRevoked(cert), Warning: replaced, addresses: addresses(cert)}
	if e.PrivateKey == nil {
		return result, nil
	}

	secret, replaced, err := k.readForMerge(k.readSecret(fpr))
	if err != nil {
		return Imported{}, err
	}
	secretStored := secret != nil
	if secret == nil {
		secret = e
	} else {
		result.NewProtection = mergeEntity(secret, e, true)
	}
	secretChanged, err := k.storeEntity(fpr, secret, true, secretStored, raw)
	if err != nil {
		return Imported{}, err
	}
	result.Unchanged = result.Unchanged && !secretChanged
	result.Secret = true
	result.Warning = joinWarnings(result.Warning, unprotectedWarning(secret))
	if secretStored && unprotectedWarning(e) != "" && unprotectedWarning(secret) == "" {
		result.Warning = joinWarnings(result.Warning, fmt.Sprintf("the stored secret key %s is protected by a passphrase, so the unprotected copy in the input was not stored; to store it, remove the key with \"sealmail keyring remove --secret\" and import it again",
			displayFingerprint(e)))
	}
	result.Warning = joinWarnings(result.Warning, replaced)
	result.Warning = joinWarnings(result.Warning, signingWarning(secret, time.Now()))
	return result, nil
}

// readForMerge takes the result of readCert or readSecret, with the lock
// held. When the stored file is corrupt, it keeps a copy of the file in the
// folder "corrupt" and returns a nil key, so that the import replaces the
// file, and a warning that names the copy. An I/O error is returned as it is,
// because the file may be fine once the error passes.
func (k *Keyring) readForMerge(stored *openpgp.Entity, err error) (*openpgp.Entity, string, error) {
	file := asUnreadable(err)
	if file == nil || !file.corrupt {
		return stored, "", err
	}

	kept, err := k.keepUnreadable(file)
	if err != nil {
		return nil, "", err
	}
	warning := fmt.Sprintf("the stored file %q could not be read (%v), so the imported key replaced it; its old content is in %q",
		file.path, file.err, kept)
	return nil, warning, nil
}

// storeEntity serializes e, the merged key, and adds the packets that the
// OpenPGP library left out of it. It checks that the result reads back as
// the same key and writes it as the certificate or the secret key fpr,
// unless the stored file has those packets already. With merge set, the
// stored file is merged, and otherwise it is replaced. imported contains
// the binary packets of the imported copies of the key. It reports whether
// it wrote the file.
func (k *Keyring) storeEntity(fpr string, e *openpgp.Entity, secret, merge bool, imported [][]byte) (bool, error) {
	encoded, err := encodeEntity(e, secret)
	if err != nil {
		return false, fmt.Errorf("failed to serialize key %s: %w", fpr, err)
	}

	path := k.certPath(fpr)
	if secret {
		path = k.secretPath(fpr)
	}
	var stored []byte
	if merge {
		if stored, err = os.ReadFile(path); err != nil {
			return false, fmt.Errorf("failed to read stored key %s: %w", fpr, err)
		}
	}
	data, changed, err := keyUnion(encoded, stored, imported, e.PrimaryKey, secret)
	if err != nil {
		return false, fmt.Errorf("failed to merge key %s: %w", fpr, err)
	}
	if !changed {
		return false, nil
	}
	readBack, err := parseStored(data, fpr)
	if err != nil {
		return false, fmt.Errorf("failed to store key %s: it does not read back: %w", fpr, err)
	}

	if secret {
		return true, k.writeSecret(fpr, data)
	}
	if err := k.writeCert(fpr, data); err != nil {
		return false, err
	}
	k.noteWritten(fpr, data, readBack)
	return true, nil
}

// unprotectedWarning returns a warning when a secret key of e is stored
// without passphrase protection, or "".
func unprotectedWarning(e *openpgp.Entity) string {
	unprotected := e.PrivateKey != nil && !e.PrivateKey.Encrypted && !e.PrivateKey.Dummy()
	for _, subkey := range e.Subkeys {
		if subkey.PrivateKey != nil && !subkey.PrivateKey.Encrypted && !subkey.PrivateKey.Dummy() {
			unprotected = true
		}
	}
	if !unprotected {
		return ""
	}
	return fmt.Sprintf("the secret key %s is not protected by a passphrase, so anyone who can read the keyring's secret folder can sign as you; set one (for example with \"gpg --passwd\", then export the key and import it again)",
		displayFingerprint(e))
}

// revocationTarget returns the fingerprint of the key that sig revokes,
// among the stored keys and the keys of the same input, after checking the
// signature.
func (k *Keyring) revocationTarget(ctx context.Context, sig *packet.Signature, inputKeys []*openpgp.Entity) (string, error) {
	candidates := append([]*openpgp.Entity(nil), inputKeys...)
	var stored []*openpgp.Entity
	var unreadable []*unreadableFile
	var err error
	switch {
	case sig.IssuerFingerprint != nil:
		stored, unreadable, err = k.certsForKey(ctx, hexFingerprint(sig.IssuerFingerprint))
	case sig.IssuerKeyId != nil:
		stored, unreadable, err = k.certsForKey(ctx, fmt.Sprintf("%016x", *sig.IssuerKeyId))
	}
	if err != nil {
		return "", err
	}
	candidates = append(candidates, stored...)

	for _, e := range candidates {
		if !issuedBy(sig, e) {
			continue
		}
		if err := e.PrimaryKey.VerifyRevocationSignature(sig); err != nil {
			return "", fmt.Errorf("failed to import revocation of key %s: its signature is invalid: %w", displayFingerprint(e), err)
		}
		return hexFingerprint(e.PrimaryKey.Fingerprint), nil
	}
	if len(unreadable) > 0 {
		return "", fmt.Errorf("failed to import revocation: the key %s it revokes is not in the keyring; import the key first%s",
			issuerName(sig), unreadableNote(unreadablePaths(unreadable)))
	}
	return "", fmt.Errorf("failed to import revocation: the key %s it revokes is not in the keyring; import the key first", issuerName(sig))
}

// issuedBy reports whether sig names the primary key of e as its issuer.
func issuedBy(sig *packet.Signature, e *openpgp.Entity) bool {
	if sig.IssuerFingerprint != nil {
		return bytes.Equal(sig.IssuerFingerprint, e.PrimaryKey.Fingerprint)
	}
	return sig.IssuerKeyId != nil && *sig.IssuerKeyId == e.PrimaryKey.KeyId
}

// issuerName returns the issuer fingerprint or key ID of sig, for messages.
func issuerName(sig *packet.Signature) string {
	switch {
	case sig.IssuerFingerprint != nil:
		return fmt.Sprintf("0x%X", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("0x%016X", *sig.IssuerKeyId)
	default:
		return "(no issuer)"
	}
}

// importRevocation adds the key revocation sig to the stored key fpr, with
// the lock held.
func (k *Keyring) importRevocation(fpr string, sig *packet.Signature) (Imported, error) {
	cert, err := k.readCert(fpr)
	if err != nil {
		return Imported{}, err
	}
	if cert == nil {
		return Imported{}, fmt.Errorf("failed to import revocation: key %s is not in the keyring", fpr)
	}
	wasRevoked := isRevoked(cert)
	cert.Revocations = appendMissing(cert.Revocations, []*packet.VerifiableSignature{packet.NewVerifiableSig(sig)})
	changed, err := k.storeEntity(fpr, cert, false, true, nil)
	if err != nil {
		return Imported{}, err
	}
	return Imported{Fingerprint: fpr, UserIDs: userIDs(cert), Updated: true, Unchanged: !changed,
		NowRevoked: !wasRevoked && isRevoked(cert)}, nil
}

// isRevoked reports whether the primary key of e is revoked.
func isRevoked(e *openpgp.Entity) bool {
	status, _ := primaryStatus(e, time.Now())
	return status == StatusRevoked
}
