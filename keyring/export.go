package keyring

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/crypto/pgpmime"
)

// ExportMinimal returns the smallest certificate that lets another program
// encrypt to the stored OpenPGP key with the given primary key fingerprint
// (40 or 64 hex digits, written as Find accepts it), in binary form:
//
//   - the primary key, and its newest valid direct-key signature if it has
//     one (a v6 key keeps its expiry and preferences there);
//   - one user ID with its newest valid self-signature: the user ID for
//     address, or the primary user ID when address is "";
//   - the newest valid encryption subkey with its newest valid binding
//     signature, unless the primary key is the encryption key.
//
// Third-party certifications, other user IDs and subkeys, and superseded
// signatures are left out. The key must be usable for encryption now: a
// revoked or expired key, or one without a valid encryption subkey, returns
// an error, because its minimal form would hide that. An unknown fingerprint
// returns an error that wraps ErrNotFound. An X.509 certificate returns an
// error stating that minimal export is for OpenPGP keys only.
func (k *Keyring) ExportMinimal(ctx context.Context, fingerprint, address string) ([]byte, error) {
	fpr, cert, err := k.certToExport(ctx, fingerprint)
	if err != nil {
		return nil, err
	}
	if cert == nil && isCertFingerprint(fpr) {
		// A v6 fingerprint and the SHA-256 of an X.509 certificate have the
		// same length; only a stored certificate gets the X.509 message.
		if _, err := k.exportX509(fpr); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("failed to export certificate %s in minimal form: minimal export is for OpenPGP keys only; export the X.509 certificate without it",
			strings.ToUpper(fpr))
	}
	if cert == nil {
		return nil, notFound("export", fpr)
	}

	minimal, err := minimalCertificate(cert, address, time.Now())
	if err != nil {
		return nil, fmt.Errorf("failed to export key %s in minimal form: %w", displayFingerprint(cert), err)
	}
	data, err := encodeEntity(minimal, false)
	if err != nil {
		return nil, fmt.Errorf("failed to export key %s: %w", displayFingerprint(cert), err)
	}
	return data, nil
}

// minimalCertificate returns a new entity with the packets of cert that
// ExportMinimal keeps, checked to be valid for encryption at now.
func minimalCertificate(cert *openpgp.Entity, address string, now time.Time) (*openpgp.Entity, error) {
	if status, detail := encryptionStatus(cert, now); status != StatusValid {
		if detail != nil {
			return nil, fmt.Errorf("the key %s: %w", statusPredicate(status), detail)
		}
		return nil, fmt.Errorf("the key %s", statusPredicate(status))
	}

	identity, err := minimalIdentity(cert, address, now)
	if err != nil {
		return nil, err
	}
	minimal, err := pgpmime.MinimalKey(cert, identity, now)
	if err != nil {
		return nil, err
	}

	// The result must be usable on its own, because a receiver gets only
	// these packets.
	if status, detail := encryptionStatus(minimal, now); status != StatusValid {
		return nil, fmt.Errorf("the minimal form %s: %v", statusPredicate(status), detail)
	}
	return minimal, nil
}

// statusPredicate returns the end of a sentence about a key with an
// encryption status other than valid, such as "is revoked".
func statusPredicate(status Status) string {
	switch status {
	case StatusNoEncryption:
		return "has no valid encryption subkey"
	case StatusWeak:
		return "is too weak to encrypt to"
	case StatusUnsupported:
		return "uses an algorithm that sealmail does not encrypt with"
	default:
		return "is " + string(status)
	}
}

// minimalIdentity returns the user ID of cert for address, or its primary
// user ID when address is "", checked to have a self-signature valid at now.
func minimalIdentity(cert *openpgp.Entity, address string, now time.Time) (*openpgp.Identity, error) {
	if address == "" {
		_, identity := cert.PrimaryIdentity(now, nil)
		if identity == nil {
			return nil, fmt.Errorf("it has no valid user ID")
		}
		return identity, nil
	}

	identity := identityFor(cert, normalizeAddress(address))
	if identity == nil {
		return nil, fmt.Errorf("it has no user ID for %q; give the fingerprint to export its primary user ID", address)
	}
	if _, err := identity.Verify(now, nil); err != nil {
		return nil, fmt.Errorf("its user ID %q is not valid: %w", identity.Name, err)
	}
	return identity, nil
}

// ExportSecret returns the stored secret key with the given primary key
// fingerprint (40 or 64 hex digits, written as Find accepts it) as it is
// stored, and reports whether its secret key material is protected. The key
// is never decrypted, so a protected key stays protected by its passphrase.
//
// For an OpenPGP key the data is a binary transferable secret key (RFC 9580
// section 10.2). For the SHA-256 fingerprint of an X.509 certificate it is
// the stored PKCS#12 bundle of the S/MIME identity, which is protected
// unless the empty password opens it. A key or certificate without a stored
// secret key returns an error that wraps ErrNotFound.
func (k *Keyring) ExportSecret(ctx context.Context, fingerprint string) (data []byte, protected bool, err error) {
	fpr, err := parseFingerprint("export", fingerprint)
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}

	if isCertFingerprint(fpr) && k.hasIdentity(fpr) {
		return k.exportIdentity(fpr)
	}
	path := k.secretPath(fpr)
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("failed to export the secret key 0x%s: %w: no secret key with that fingerprint is stored; \"sealmail keyring list --secret\" lists the stored ones",
			strings.ToUpper(fpr), ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to export the secret key 0x%s: %w", strings.ToUpper(fpr), err)
	}

	// The bytes are checked but written out as they are stored, never
	// re-serialized, so the export is exactly the stored key.
	secret, err := parseStored(data, fpr)
	if err == nil && secret.PrivateKey == nil {
		err = errors.New("it contains no secret key")
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to export the secret key 0x%s: the stored file %q cannot be read: %w", strings.ToUpper(fpr), path, err)
	}
	return data, unprotectedWarning(secret) == "", nil
}

// exportIdentity returns the stored PKCS#12 bundle of the S/MIME identity
// fpr and reports whether a password protects it.
func (k *Keyring) exportIdentity(fpr string) ([]byte, bool, error) {
	data, err := os.ReadFile(k.identityPath(fpr))
	if err != nil {
		return nil, false, fmt.Errorf("failed to export the S/MIME identity %s: %w", strings.ToUpper(fpr), err)
	}
	_, _, _, err = decodePKCS12(data, nil)
	return data, err != nil, nil
}
