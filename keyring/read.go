package keyring

import (
	"context"
	"errors"
	"io/fs"
	"os"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// readCerts parses every stored certificate and returns, apart from them,
// the files that could not be read or parsed; ctx stops it between files.
// Only a failure to list the certificate directory is an error.
func (k *Keyring) readCerts(ctx context.Context) ([]*openpgp.Entity, []*unreadableFile, error) {
	fprs, err := k.certFingerprints()
	if err != nil {
		return nil, nil, err
	}

	certs := make([]*openpgp.Entity, 0, len(fprs))
	var unreadable []*unreadableFile
	for _, fpr := range fprs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		cert, err := k.readCert(fpr)
		if err != nil {
			unreadable = append(unreadable, asUnreadable(err))
			continue
		}
		if cert != nil {
			certs = append(certs, cert)
		}
	}
	return certs, unreadable, nil
}

// readSecrets parses every stored secret key, as readCerts does
// certificates.
func (k *Keyring) readSecrets(ctx context.Context) ([]*openpgp.Entity, []*unreadableFile, error) {
	fprs, err := k.secretFingerprints()
	if err != nil {
		return nil, nil, err
	}

	secrets := make([]*openpgp.Entity, 0, len(fprs))
	var unreadable []*unreadableFile
	for _, fpr := range fprs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		secret, err := k.readSecret(fpr)
		if err != nil {
			unreadable = append(unreadable, asUnreadable(err))
			continue
		}
		if secret != nil {
			secrets = append(secrets, secret)
		}
	}
	return secrets, unreadable, nil
}

// readCert returns the stored certificate with fingerprint fpr, or nil when
// there is none. Every error is an *unreadableFile.
func (k *Keyring) readCert(fpr string) (*openpgp.Entity, error) {
	path := k.certPath(fpr)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, err: err}
	}

	cert, err := parseStored(data, fpr)
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, corrupt: true, err: err}
	}
	return cert, nil
}

// readSecret returns the stored secret key with fingerprint fpr, or nil
// when there is none. Every error is an *unreadableFile.
func (k *Keyring) readSecret(fpr string) (*openpgp.Entity, error) {
	path := k.secretPath(fpr)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, secret: true, err: err}
	}

	secret, err := parseStored(data, fpr)
	if err == nil && secret.PrivateKey == nil {
		err = errors.New("it contains no secret key")
	}
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, secret: true, corrupt: true, err: err}
	}
	return secret, nil
}

// certsForAddress returns the readable stored certificates with a user ID
// for address.
// TODO: look the address up in the index instead of reading every file.
func (k *Keyring) certsForAddress(ctx context.Context, address string) ([]*openpgp.Entity, error) {
	certs, _, err := k.readCerts(ctx)
	if err != nil {
		return nil, err
	}
	want := normalizeAddress(address)
	var found []*openpgp.Entity
	for _, cert := range certs {
		if identityFor(cert, want) != nil {
			found = append(found, cert)
		}
	}
	return found, nil
}
