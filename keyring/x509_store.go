package keyring

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the X.509 store inside the folder given to Open. The folder
// "x509" sits beside pgp.cert.d, because the OpenPGP certificate directory
// is shared with other programs that expect only OpenPGP certificates in it.
const (
	x509DirName    = "x509"
	anchorsDirName = "anchors"
	identityExt    = ".p12"
)

// certFingerprint returns the lowercase hex SHA-256 of the DER encoding of
// cert, which names its file and identifies it in List, Find and Remove.
func certFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// x509Dir returns the folder of stored certificates, or of the trust
// anchors when anchors is set.
func (k *Keyring) x509Dir(anchors bool) string {
	dir := filepath.Join(k.dir, x509DirName)
	if anchors {
		dir = filepath.Join(dir, anchorsDirName)
	}
	return dir
}

// x509Path returns the path of the DER certificate fpr, in the same
// two-level layout as the OpenPGP certificate directory.
func (k *Keyring) x509Path(fpr string, anchor bool) string {
	return filepath.Join(k.x509Dir(anchor), fpr[:2], fpr[2:])
}

// identityPath returns the path of the PKCS#12 bundle whose certificate
// has fingerprint fpr.
func (k *Keyring) identityPath(fpr string) string {
	return filepath.Join(k.secretDir, fpr+identityExt)
}

// isCertFingerprint reports whether s is a lowercase hex SHA-256.
func isCertFingerprint(s string) bool {
	return len(s) == sha256.Size*2 && isFingerprint(s)
}

// x509Fingerprints returns the fingerprints of every certificate file
// stored, or of every trust anchor. A missing folder holds none.
func (k *Keyring) x509Fingerprints(anchors bool) ([]string, error) {
	dir := k.x509Dir(anchors)
	prefixes, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read certificate folder %q: %w", dir, err)
	}

	var fprs []string
	for _, prefix := range prefixes {
		// The anchors folder and temporary files are skipped by their names.
		if !prefix.IsDir() || len(prefix.Name()) != 2 {
			continue
		}
		sub := filepath.Join(dir, prefix.Name())
		files, err := os.ReadDir(sub)
		if err != nil {
			return nil, fmt.Errorf("failed to read certificate folder %q: %w", sub, err)
		}
		for _, file := range files {
			fpr := prefix.Name() + file.Name()
			if file.Type().IsRegular() && isCertFingerprint(fpr) {
				fprs = append(fprs, fpr)
			}
		}
	}
	return fprs, nil
}

// storedCertificate is a certificate read from the X.509 store.
type storedCertificate struct {
	cert   *x509.Certificate
	fpr    string
	anchor bool
}

// readX509 returns the certificate stored under fpr, or nil when there is
// none. Every error is an *unreadableFile.
func (k *Keyring) readX509(fpr string, anchor bool) (*x509.Certificate, error) {
	path := k.x509Path(fpr, anchor)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, err: err}
	}

	cert, err := parseStoredX509(data, fpr)
	if err != nil {
		return nil, &unreadableFile{fingerprint: fpr, path: path, corrupt: true, err: err}
	}
	return cert, nil
}

// parseStoredX509 parses the DER certificate stored under fingerprint fpr.
func parseStoredX509(data []byte, fpr string) (*x509.Certificate, error) {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != fpr {
		return nil, fmt.Errorf("its SHA-256 is %s, which does not match its file name", got)
	}
	cert, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("it is not an X.509 certificate: %w", err)
	}
	return cert, nil
}

// readX509s returns every stored certificate, or every trust anchor, and
// apart from them the files that could not be read; ctx stops it between
// files.
func (k *Keyring) readX509s(ctx context.Context, anchors bool) ([]storedCertificate, []*unreadableFile, error) {
	fprs, err := k.x509Fingerprints(anchors)
	if err != nil {
		return nil, nil, err
	}

	certs := make([]storedCertificate, 0, len(fprs))
	var unreadable []*unreadableFile
	for _, fpr := range fprs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		cert, err := k.readX509(fpr, anchors)
		if err != nil {
			unreadable = append(unreadable, asUnreadable(err))
			continue
		}
		if cert != nil {
			certs = append(certs, storedCertificate{cert: cert, fpr: fpr, anchor: anchors})
		}
	}
	return certs, unreadable, nil
}

// hasIdentity reports whether a PKCS#12 bundle is stored for the
// certificate fpr.
func (k *Keyring) hasIdentity(fpr string) bool {
	info, err := os.Stat(k.identityPath(fpr))
	return err == nil && info.Mode().IsRegular()
}

// writeX509 stores the certificate cert, or the trust anchor, with the lock
// held, and reports whether it was stored already. A stored file whose
// content is not the certificate its name promises is replaced.
func (k *Keyring) writeX509(cert *x509.Certificate, anchor bool) (updated bool, err error) {
	fpr := certFingerprint(cert)
	stored, err := k.readX509(fpr, anchor)
	if file := asUnreadable(err); file != nil && !file.corrupt {
		return false, file
	}
	if stored != nil {
		return true, nil
	}

	if err := makeDir(k.x509Dir(false)); err != nil {
		return false, err
	}
	if anchor {
		if err := makeDir(k.x509Dir(true)); err != nil {
			return false, err
		}
	}
	if err := makeDir(filepath.Dir(k.x509Path(fpr, anchor))); err != nil {
		return false, err
	}
	return false, writeFileAtomic(k.x509Path(fpr, anchor), cert.Raw)
}
