package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// x509Keys returns the stored certificates and trust anchors as List shows
// them, and an entry for every file of the X.509 store that could not be
// read.
func (k *Keyring) x509Keys(ctx context.Context, now time.Time) ([]storedKey, error) {
	// List makes no request: it checks revocation with the cached CRLs only.
	store, err := k.readX509Store(ctx, CertPolicy{Offline: true})
	if err != nil {
		return nil, err
	}

	var keys []storedKey
	for _, stored := range append(store.certs, store.anchors...) {
		status := StatusAnchor
		if !stored.anchor && stored.cert.IsCA {
			status = StatusCA
		} else if !stored.anchor {
			status = StatusValid
			_, err := store.validate(ctx, stored.cert, "", now, UsageEncryption)
			var certErr *CertError
			switch {
			case errors.As(err, &certErr):
				status = certErr.Status
			case err != nil:
				return nil, err
			}
		}
		expires := stored.cert.NotAfter
		addresses := certAddresses(stored.cert)
		key := storedKey{
			certificate: stored.cert,
			entry: Entry{
				Kind:        KindX509,
				Fingerprint: stored.fpr,
				UserIDs:     certUserIDs(stored.cert),
				Addresses:   addresses,
				Algorithm:   certAlgorithm(stored.cert),
				Created:     stored.cert.NotBefore,
				Expires:     &expires,
				Subkeys:     []Subkey{},
				Status:      status,
				Secret:      !stored.anchor && k.hasIdentity(stored.fpr),
			},
		}
		if len(addresses) > 0 {
			key.primaryAddress = addresses[0]
		}
		keys = append(keys, key)
	}

	for _, file := range store.unreadable {
		keys = append(keys, storedKey{entry: Entry{
			Kind:        KindX509,
			Fingerprint: file.fingerprint,
			UserIDs:     []string{},
			Addresses:   []string{},
			Subkeys:     []Subkey{},
			Status:      StatusUnreadable,
			Secret:      k.hasIdentity(file.fingerprint),
			Path:        file.path,
			Problem:     file.err.Error(),
		}})
	}
	return keys, nil
}

// exportX509 returns the DER certificate fpr, from the store or the trust
// anchors.
func (k *Keyring) exportX509(fpr string) ([]byte, error) {
	for _, anchor := range []bool{false, true} {
		cert, err := k.readX509(fpr, anchor)
		if file := asUnreadable(err); file != nil {
			return nil, fmt.Errorf("failed to export certificate %s: %w: import the certificate again to replace the file, or remove it", fpr, file)
		}
		if cert != nil {
			return cert.Raw, nil
		}
	}
	return nil, fmt.Errorf("failed to export key 0x%s: %w in the keyring; list the stored keys with \"sealmail keyring list\"",
		strings.ToUpper(fpr), ErrNotFound)
}

// removeX509 deletes the S/MIME identity, the certificate and the trust
// anchor fpr, with the lock held, the identity first as Remove explains.
func (k *Keyring) removeX509(fpr string) (removedIdentity, removedCert bool, err error) {
	removedIdentity, err = removeFile(k.identityPath(fpr))
	if err != nil {
		return false, false, err
	}
	for _, anchor := range []bool{false, true} {
		removed, err := removeFile(k.x509Path(fpr, anchor))
		if err != nil {
			return removedIdentity, removedCert, err
		}
		removedCert = removedCert || removed
	}
	return removedIdentity, removedCert, nil
}
