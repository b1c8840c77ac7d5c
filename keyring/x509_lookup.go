package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// RecipientCertificate returns the certificate to encrypt to for address:
// among the stored certificates and trust anchors that contain the
// address, the one with the latest NotBefore that passes the checks of
// VerifyCertificate for encryption at now. When none passes, the error is
// the *CertError of the newest such certificate. When no certificate
// contains the address, the error is a *LookupError that wraps
// ErrNotFound. Stored files that cannot be read are skipped, and a
// *LookupError names them.
func (k *Keyring) RecipientCertificate(ctx context.Context, address string, now time.Time, policy CertPolicy) (*x509.Certificate, error) {
	store, err := k.readX509Store(ctx, policy)
	if err != nil {
		return nil, err
	}

	want := normalizeAddress(address)
	var candidates []storedCertificate
	for _, stored := range append(store.certs, store.anchors...) {
		if mentionsAddress(stored.cert, want) {
			candidates = append(candidates, stored)
		}
	}
	if len(candidates) == 0 {
		return nil, withUnreadable(&LookupError{Address: address, Err: ErrNotFound}, store.unreadable)
	}

	sortNewestFirst(candidates)
	var failure error
	for _, candidate := range candidates {
		_, err := store.validate(ctx, candidate.cert, address, now, UsageEncryption)
		if err == nil {
			return candidate.cert, nil
		}
		if !isCertError(err) {
			return nil, err
		}
		if failure == nil {
			failure = err
		}
	}
	return nil, failure
}

// isCertError reports whether err is a *CertError, which rules out one
// candidate, rather than an error that ends the lookup, such as that of
// the context.
func isCertError(err error) bool {
	var certErr *CertError
	return errors.As(err, &certErr)
}

// sortNewestFirst sorts certs by NotBefore, the latest first, and then by
// fingerprint, so the choice never depends on the order of files.
func sortNewestFirst(certs []storedCertificate) {
	for i := 1; i < len(certs); i++ {
		for j := i; j > 0 && newerCertificate(certs[j], certs[j-1]); j-- {
			certs[j], certs[j-1] = certs[j-1], certs[j]
		}
	}
}

// newerCertificate reports whether a is to be preferred over b.
func newerCertificate(a, b storedCertificate) bool {
	if !a.cert.NotBefore.Equal(b.cert.NotBefore) {
		return a.cert.NotBefore.After(b.cert.NotBefore)
	}
	return a.fpr > b.fpr
}

// Identity is the user's S/MIME signing identity: a certificate with its
// chain and the PKCS#12 bundle that holds its private key, still encrypted.
type Identity struct {
	Certificate *x509.Certificate
	// Chain is the chain from the issuer of Certificate up to, but not
	// including, the trust anchor, as a signature should carry it.
	Chain []*x509.Certificate
	// Fingerprint is the lowercase hex SHA-256 of Certificate.
	Fingerprint string

	bundle []byte // the stored PKCS#12 bundle
}

// SMIMEIdentity returns the user's signing identity for address: among the
// stored PKCS#12 bundles whose certificates contain the address, the one
// with the latest NotBefore that passes the checks of VerifyCertificate for
// signing at now. The From address of a signed message must be in the
// certificate of the signer (RFC 8550 section 3), so identities without the
// address are refused with a *CertError of StatusAddressMismatch that names
// the newest of them. Without any identity, the error is a *LookupError that
// wraps ErrNotFound.
func (k *Keyring) SMIMEIdentity(ctx context.Context, address string, now time.Time, policy CertPolicy) (*Identity, error) {
	store, err := k.readX509Store(ctx, policy)
	if err != nil {
		return nil, err
	}

	want := normalizeAddress(address)
	var matching, others []storedCertificate
	for _, stored := range store.certs {
		if !k.hasIdentity(stored.fpr) {
			continue
		}
		if mentionsAddress(stored.cert, want) {
			matching = append(matching, stored)
		} else {
			others = append(others, stored)
		}
	}
	if len(matching) == 0 && len(others) > 0 {
		sortNewestFirst(others)
		newest := others[0]
		return nil, &CertError{
			Address:     address,
			Fingerprint: newest.fpr,
			Subject:     readableSubject(newest.cert),
			Status:      StatusAddressMismatch,
			Err:         checkAddress(newest.cert, address),
		}
	}
	if len(matching) == 0 {
		return nil, withUnreadable(&LookupError{Address: address, Err: ErrNotFound, Secret: true}, store.unreadable)
	}

	sortNewestFirst(matching)
	var failure error
	for _, candidate := range matching {
		chain, err := store.validate(ctx, candidate.cert, address, now, UsageSigning)
		if err == nil {
			return k.loadIdentity(candidate, chain)
		}
		if !isCertError(err) {
			return nil, err
		}
		if failure == nil {
			failure = err
		}
	}
	return nil, failure
}

// loadIdentity reads the PKCS#12 bundle of stored, whose verified chain
// runs from its certificate to a trust anchor.
func (k *Keyring) loadIdentity(stored storedCertificate, chain []*x509.Certificate) (*Identity, error) {
	path := k.identityPath(stored.fpr)
	bundle, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read S/MIME identity %q: %w", path, err)
	}

	id := &Identity{Certificate: stored.cert, Fingerprint: stored.fpr, bundle: bundle}
	if len(chain) > 2 {
		id.Chain = append(id.Chain, chain[1:len(chain)-1]...)
	}
	return id, nil
}

// Unlock decrypts the PKCS#12 bundle of id with password and returns its
// private key, an *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey.
// A wrong password returns an error that wraps ErrWrongPassphrase.
func (id *Identity) Unlock(password []byte) (crypto.Signer, error) {
	key, cert, _, err := decodePKCS12(id.bundle, password)
	if err != nil {
		return nil, fmt.Errorf("failed to unlock S/MIME identity %q: %w", readableSubject(id.Certificate), err)
	}
	if !bytes.Equal(cert.Raw, id.Certificate.Raw) {
		return nil, fmt.Errorf("failed to unlock S/MIME identity %q: the stored PKCS#12 bundle holds the key of another certificate; import the identity again",
			readableSubject(id.Certificate))
	}
	return key, nil
}

// Locked reports whether the PKCS#12 bundle of id needs a password. A bundle
// made with the empty password, as "openssl pkcs12 -export -passout pass:"
// does, is not locked: Unlock(nil) opens it.
func (id *Identity) Locked() bool {
	_, _, _, err := decodePKCS12(id.bundle, nil)
	return errors.Is(err, ErrWrongPassphrase)
}
