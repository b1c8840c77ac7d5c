package keyring

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// keyIDLen is the length of a long key ID in hex digits.
const keyIDLen = 16

// Find returns every stored key that matches query, usable or not, in the
// order of List, with Status at now. The query is one of:
//
//   - an email address, matched as EncryptionKey matches it: without regard
//     to case, and with the domain in its IDN (punycode) form; an X.509
//     certificate matches when the address is in its subjectAltName or its
//     subject;
//   - a fingerprint of 40 or 64 hex digits, of the primary key or of a
//     subkey, or the SHA-256 of an X.509 certificate, in any case, with an
//     optional "0x" and spaces anywhere;
//   - a long key ID of 16 hex digits, written the same ways.
//
// An unreadable stored file matches a fingerprint or key ID query by its
// name. When nothing matches, the error is a *LookupError that wraps
// ErrNotFound.
func (k *Keyring) Find(ctx context.Context, query string, now time.Time) ([]Entry, error) {
	match, err := queryMatcher(query)
	if err != nil {
		return nil, err
	}
	certs, unreadable, err := k.indexedCerts(ctx, indexKey(query), checkWhenStale)
	if err != nil {
		return nil, err
	}
	keys, err := k.describeKeys(ctx, now, certs, unreadable)
	if err != nil {
		return nil, err
	}

	var found []storedKey
	var unreadablePaths []string
	for _, key := range keys {
		if key.unreadable() {
			unreadablePaths = append(unreadablePaths, key.entry.Path)
		}
		if match(key) {
			found = append(found, key)
		}
	}
	if len(found) == 0 {
		return nil, &LookupError{Address: query, Err: ErrNotFound, Unreadable: unreadablePaths}
	}
	return sortedEntries(found), nil
}

// indexKey returns the key under which the index lists the certificates
// that may match query, a query that queryMatcher accepted.
func indexKey(query string) string {
	if strings.Contains(query, "@") {
		return normalizeAddress(query)
	}
	hex, _ := normalizeHex(query)
	return hex
}

// ErrInvalidQuery is wrapped by the error of Find for a query that is
// neither an address, a fingerprint nor a key ID.
var ErrInvalidQuery = errors.New("invalid key query")

// queryMatcher returns the function that reports whether a stored key
// matches query, as Find documents.
func queryMatcher(query string) (func(storedKey) bool, error) {
	if strings.Contains(query, "@") {
		address := normalizeAddress(query)
		return func(key storedKey) bool {
			if key.certificate != nil {
				return mentionsAddress(key.certificate, address)
			}
			return key.cert != nil && identityFor(key.cert, address) != nil
		}, nil
	}

	hex, ok := normalizeHex(query)
	switch {
	case ok && (len(hex) == fingerprintLenV4 || len(hex) == fingerprintLenV6):
		return func(key storedKey) bool {
			if key.cert == nil {
				return key.entry.Fingerprint == hex
			}
			return hasKey(key.cert, func(fpr string) bool { return fpr == hex })
		}, nil
	case ok && len(hex) == keyIDLen:
		return func(key storedKey) bool {
			if key.entry.Kind == KindX509 {
				return false
			}
			if key.cert == nil {
				return keyIDOf(key.entry.Fingerprint) == hex
			}
			return hasKey(key.cert, func(fpr string) bool { return keyIDOf(fpr) == hex })
		}, nil
	}
	return nil, fmt.Errorf("%w %q: give an email address, a fingerprint of 40 or 64 hex digits or a long key ID of 16", ErrInvalidQuery, query)
}

// hasKey reports whether the fingerprint of the primary key or of a subkey
// of e satisfies match.
func hasKey(e *openpgp.Entity, match func(fpr string) bool) bool {
	if match(hexFingerprint(e.PrimaryKey.Fingerprint)) {
		return true
	}
	for _, subkey := range e.Subkeys {
		if match(hexFingerprint(subkey.PublicKey.Fingerprint)) {
			return true
		}
	}
	return false
}

// keyIDOf returns the long key ID of the key with fingerprint fpr: the last
// 8 bytes of a v4 fingerprint (RFC 4880 section 12.2), the first 8 bytes of
// a v6 one (RFC 9580 section 5.5.4.3).
func keyIDOf(fpr string) string {
	if len(fpr) == fingerprintLenV6 {
		return fpr[:keyIDLen]
	}
	return fpr[len(fpr)-keyIDLen:]
}

// normalizeHex returns s in lowercase without spaces and without a leading
// "0x", and whether the rest is hex digits only.
func normalizeHex(s string) (string, bool) {
	s = strings.ToLower(strings.Join(strings.Fields(s), ""))
	s = strings.TrimPrefix(s, "0x")
	if s == "" {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return s, true
}

// parseFingerprint returns fingerprint as the lowercase hex of a primary
// key, written as Find accepts it, or an error naming what op needs.
func parseFingerprint(op, fingerprint string) (string, error) {
	fpr, ok := normalizeHex(fingerprint)
	if !ok || !isFingerprint(fpr) {
		return "", fmt.Errorf("invalid fingerprint %q: %s needs the full fingerprint of 40 or 64 hex digits; find it with \"sealmail keyring show ADDRESS\"", fingerprint, op)
	}
	return fpr, nil
}

// notFound returns the error of Export and Remove for a fingerprint that no
// stored key has.
func notFound(op, fpr string) error {
	return fmt.Errorf("failed to %s key 0x%s: %w in the keyring; list the stored keys with \"sealmail keyring list\"",
		op, strings.ToUpper(fpr), ErrNotFound)
}

// Export returns the certificate with the given primary key fingerprint
// (40 or 64 hex digits, written as Find accepts it) in binary form. It is
// parsed and written again as a certificate, so it never contains secret key
// material, even if another program stored a secret key in the certificate
// directory. The stored packets that the OpenPGP library does not read, such
// as user attributes (photo IDs), are put back in their places. An unknown
// fingerprint returns an error that wraps ErrNotFound.
//
// A SHA-256 fingerprint of a stored X.509 certificate or trust anchor
// returns the DER certificate.
func (k *Keyring) Export(ctx context.Context, fingerprint string) ([]byte, error) {
	fpr, cert, err := k.certToExport(ctx, fingerprint)
	if err != nil {
		return nil, err
	}
	if cert == nil && isCertFingerprint(fpr) {
		return k.exportX509(fpr)
	}
	if cert == nil {
		return nil, notFound("export", fpr)
	}

	data, err := k.certificateBytes(fpr, cert)
	if err != nil {
		return nil, fmt.Errorf("failed to export key 0x%s: %w", strings.ToUpper(fpr), err)
	}
	return data, nil
}

// certToExport parses fingerprint as Export takes it and reads the stored
// certificate, which is nil when there is none.
func (k *Keyring) certToExport(ctx context.Context, fingerprint string) (string, *openpgp.Entity, error) {
	fpr, err := parseFingerprint("export", fingerprint)
	if err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}

	cert, err := k.readCert(fpr)
	if file := asUnreadable(err); file != nil {
		return "", nil, fmt.Errorf("failed to export key 0x%s: %w: import the key again to replace the file, or remove it",
			strings.ToUpper(fpr), file)
	}
	return fpr, cert, err
}

// Remove deletes the certificate with the given primary key fingerprint and
// the secret key stored for it, if any, and reports whether there was one.
// It takes only a full fingerprint (40 or 64 hex digits, written as Find
// accepts it), so a typo cannot match another key. Files that could not be
// read are removed too, and so are the copies of the secret key file that
// Import kept in the folder "corrupt", because they may contain secret key
// material. The kept copies of the certificate stay. An unknown
// fingerprint returns an error that wraps ErrNotFound.
//
// The secret key goes first, so that a crash in between leaves a
// certificate without its secret key, never a secret key without the
// revocations that its certificate may hold.
//
// A SHA-256 fingerprint of an X.509 certificate removes the certificate,
// the S/MIME identity (PKCS#12 bundle) stored for it and a trust anchor
// with that fingerprint, and removedSecret reports the identity.
//
// Remove is RemoveKey with RemoveOptions.Secret set.
func (k *Keyring) Remove(ctx context.Context, fingerprint string) (removedSecret bool, err error) {
	return k.RemoveKey(ctx, fingerprint, RemoveOptions{Secret: true})
}

// ErrSecretKeyStored is wrapped by the error of RemoveKey for a key whose
// secret key is stored, when RemoveOptions.Secret is not set.
var ErrSecretKeyStored = errors.New("its secret key is stored in the keyring")

// RemoveOptions tune RemoveKey. The zero value never deletes a secret key.
type RemoveOptions struct {
	// Secret allows deleting the secret key or S/MIME identity stored for
	// the fingerprint. The keyring may hold the only copy of it.
	Secret bool
}

// RemoveKey deletes what Remove deletes. Unless opts.Secret is set, a
// fingerprint with a stored secret key or S/MIME identity deletes nothing
// and returns an error that wraps ErrSecretKeyStored, and the kept copies
// of an unreadable secret key file stay in the folder "corrupt". That check is made
// with the lock held, so a secret key imported by another process after the
// caller looked cannot be deleted by mistake.
func (k *Keyring) RemoveKey(ctx context.Context, fingerprint string, opts RemoveOptions) (removedSecret bool, err error) {
	fpr, err := parseFingerprint("remove", fingerprint)
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}

	unlock, err := k.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()

	if !opts.Secret && k.hasSecret(fpr) {
		return false, fmt.Errorf("failed to remove key 0x%s: %w", strings.ToUpper(fpr), ErrSecretKeyStored)
	}
	removedSecret, err = removeFile(k.secretPath(fpr))
	if err != nil {
		return false, err
	}
	if opts.Secret {
		if err := k.removeKeptSecrets(fpr); err != nil {
			return removedSecret, err
		}
	}
	if err := k.refreshIndex(ctx); err != nil {
		return false, err
	}
	defer k.saveIndexIfDirty()
	removedCert, err := removeFile(k.certPath(fpr))
	if err != nil {
		return removedSecret, err
	}
	k.noteRemoved(fpr)
	if err := k.removeProvenance(fpr); err != nil {
		return removedSecret, err
	}
	if isCertFingerprint(fpr) {
		removedIdentity, removedX509, err := k.removeX509(fpr)
		if err != nil {
			return removedSecret || removedIdentity, err
		}
		removedSecret = removedSecret || removedIdentity
		removedCert = removedCert || removedX509
	}
	if !removedSecret && !removedCert {
		return false, notFound("remove", fpr)
	}
	return removedSecret, nil
}

// removeKeptSecrets deletes the copies of unreadable secret key files of
// fpr that Import kept in the folder "corrupt", with the lock held.
func (k *Keyring) removeKeptSecrets(fpr string) error {
	// fpr is hex, so the pattern has no metacharacters but the star.
	paths, err := filepath.Glob(filepath.Join(k.dir, corruptDirName, fpr+".secret.*"))
	if err != nil {
		return fmt.Errorf("failed to find the kept copies of the secret key 0x%s: %w", strings.ToUpper(fpr), err)
	}
	for _, path := range paths {
		if _, err := removeFile(path); err != nil {
			return err
		}
	}
	return nil
}

// removeFile deletes the file at path and syncs its folder, and reports
// whether it existed. Deleting a name is atomic: readers see the file or
// nothing.
func removeFile(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to remove %q: %w", path, err)
	}
	return true, syncDir(filepath.Dir(path))
}

// hasSecret reports whether a secret key or an S/MIME identity is stored
// for fpr, including a file that cannot be read.
func (k *Keyring) hasSecret(fpr string) bool {
	if _, err := os.Lstat(k.secretPath(fpr)); err == nil {
		return true
	}
	if _, err := os.Lstat(k.identityPath(fpr)); err == nil {
		return true
	}
	return false
}
