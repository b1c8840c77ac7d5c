package keyring

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"sync"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// readCerts parses every stored certificate and returns, apart from them,
// the files that could not be read or parsed; ctx stops it between files.
// Only a failure to list the certificate directory is an error. The files
// are parsed on every core, since parsing dominates listing a large
// keyring; the result is in the order of the files.
func (k *Keyring) readCerts(ctx context.Context) ([]*openpgp.Entity, []*unreadableFile, error) {
	fprs, err := k.certFingerprints()
	if err != nil {
		return nil, nil, err
	}

	type result struct {
		cert *openpgp.Entity
		err  error
	}
	results := make([]result, len(fprs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(fprs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i].cert, results[i].err = k.readCert(fprs[i])
			}
		}()
	}
	for i := range fprs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	certs := make([]*openpgp.Entity, 0, len(fprs))
	var unreadable []*unreadableFile
	for _, r := range results {
		if r.err != nil {
			unreadable = append(unreadable, asUnreadable(r.err))
			continue
		}
		if r.cert != nil {
			certs = append(certs, r.cert)
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

	if onCertParse != nil {
		onCertParse(fpr)
	}
	cert, err := parseStored(data, fpr)
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, corrupt: true, err: err}
	}
	return cert, nil
}

// onCertParse, when set, is called with the fingerprint of every stored
// certificate before it is parsed, on any goroutine. Only tests set it, to
// count what a lookup parses.
var onCertParse func(fpr string)

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

// certsForAddress returns the readable stored certificates that the index
// lists for address, and the stored files that could not be read, any of
// which may hold a key for it.
func (k *Keyring) certsForAddress(ctx context.Context, address string) ([]*openpgp.Entity, []*unreadableFile, error) {
	return k.indexedCerts(ctx, normalizeAddress(address), checkWhenStale)
}

// certsForKey returns the readable stored certificates with a primary key
// or subkey whose lowercase fingerprint or long key ID is id, and the files
// that could not be read.
func (k *Keyring) certsForKey(ctx context.Context, id string) ([]*openpgp.Entity, []*unreadableFile, error) {
	return k.indexedCerts(ctx, id, checkWhenStale)
}

// indexedCerts reads the certificates that the index lists under key,
// checking the index first as mode selects. When a listed file is gone or no
// longer reads, the index was stale: the lookup runs once more after a
// full check.
func (k *Keyring) indexedCerts(ctx context.Context, key string, mode lookupMode) ([]*openpgp.Entity, []*unreadableFile, error) {
	certs, unreadable, stale, err := k.readIndexed(ctx, key, mode)
	if err == nil && stale && mode != checkNever {
		certs, unreadable, _, err = k.readIndexed(ctx, key, checkAlways)
	}
	return certs, unreadable, err
}

// readIndexed reads the certificates that the index lists under key, and
// reports whether one of them was gone or unreadable.
func (k *Keyring) readIndexed(ctx context.Context, key string, mode lookupMode) (certs []*openpgp.Entity, unreadable []*unreadableFile, stale bool, err error) {
	fprs, unreadable, err := k.indexLookup(ctx, key, mode)
	if err != nil {
		return nil, nil, false, err
	}
	for _, fpr := range fprs {
		if err := ctx.Err(); err != nil {
			return nil, nil, false, err
		}
		cert, err := k.readCert(fpr)
		if file := asUnreadable(err); file != nil {
			unreadable = append(unreadable, file)
			stale = true
			continue
		}
		if err != nil {
			return nil, nil, false, err
		}
		if cert == nil {
			stale = true
			continue
		}
		certs = append(certs, cert)
	}
	return certs, unreadable, stale, nil
}
