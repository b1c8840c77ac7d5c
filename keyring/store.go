package keyring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealmail/sealmail/internal/atomicfile"
)

// Names inside the folder given to Open.
const (
	certDirName   = "pgp.cert.d"
	secretDirName = "secret"
	writeLockName = "writelock"
	// corruptDirName is the folder that contains the copies of corrupt
	// stored files that an import replaced.
	corruptDirName = "corrupt"
)

// Fingerprints are 20 bytes for v4 keys and 32 bytes for v6 keys, written as
// lowercase hex.
const (
	fingerprintLenV4 = 40
	fingerprintLenV6 = 64
)

// certPath returns the path of the certificate with fingerprint fpr in the
// certificate directory: the first two hex digits name a subfolder and the
// rest name the file, as draft-nwjw-openpgp-cert-d section 3 lays out.
func (k *Keyring) certPath(fpr string) string {
	return filepath.Join(k.certDir, fpr[:2], fpr[2:])
}

// secretPath returns the path of the secret key with fingerprint fpr.
func (k *Keyring) secretPath(fpr string) string {
	return filepath.Join(k.secretDir, fpr)
}

// isFingerprint reports whether s is a lowercase hex v4 or v6 fingerprint.
func isFingerprint(s string) bool {
	if len(s) != fingerprintLenV4 && len(s) != fingerprintLenV6 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// certFingerprints returns the fingerprints of every certificate file in the
// certificate directory. Other names, such as the writelock, "trust-root",
// implementation files starting with "_" and temporary files, are skipped, as
// the draft requires of readers.
func (k *Keyring) certFingerprints() ([]string, error) {
	prefixes, err := os.ReadDir(k.certDir)
	if err != nil {
		return nil, fmt.Errorf("failed to read certificate directory %q: %w", k.certDir, err)
	}

	var fprs []string
	for _, prefix := range prefixes {
		if !prefix.IsDir() || len(prefix.Name()) != 2 {
			continue
		}
		dir := filepath.Join(k.certDir, prefix.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("failed to read certificate directory %q: %w", dir, err)
		}
		for _, file := range files {
			fpr := prefix.Name() + file.Name()
			if file.Type().IsRegular() && isFingerprint(fpr) {
				fprs = append(fprs, fpr)
			}
		}
	}
	return fprs, nil
}

// secretFingerprints returns the fingerprints of every secret key file.
func (k *Keyring) secretFingerprints() ([]string, error) {
	files, err := os.ReadDir(k.secretDir)
	if err != nil {
		return nil, fmt.Errorf("failed to read secret key folder %q: %w", k.secretDir, err)
	}

	var fprs []string
	for _, file := range files {
		if file.Type().IsRegular() && isFingerprint(file.Name()) {
			fprs = append(fprs, file.Name())
		}
	}
	return fprs, nil
}

// writeFileAtomic replaces path with data atomically, through a temporary
// file whose name removeTemporaryFiles recognizes.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, temporaryPrefix+filepath.Base(path)+"-*")
}

// temporaryPrefix starts the name of every temporary file of
// writeFileAtomic. Readers of the certificate directory skip such names,
// because they are not fingerprints.
const temporaryPrefix = ".tmp-"

// isTemporaryName reports whether name is that of a temporary file of
// writeFileAtomic: the prefix, the name of the target, a hyphen and the
// random digits of os.CreateTemp.
func isTemporaryName(name string) bool {
	rest, ok := strings.CutPrefix(name, temporaryPrefix)
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || i == len(rest)-1 {
		return false
	}
	for _, c := range rest[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeTemporaryFiles deletes the temporary files that writers killed
// in the middle of writeFileAtomic left in the certificate directory, the
// secret folder, the provenance folder and the folder of corrupt copies.
// It must be called with the lock held, because every writer of those
// folders holds the lock while its temporary file exists, so any such file
// found then is stale. Failures are ignored, because a leftover file only
// wastes space and readers skip it.
func (k *Keyring) removeTemporaryFiles() {
	dirs := []string{
		k.secretDir,
		filepath.Join(k.dir, provenanceDirName),
		filepath.Join(k.dir, corruptDirName),
	}
	prefixes, _ := os.ReadDir(k.certDir)
	for _, prefix := range prefixes {
		if prefix.IsDir() && len(prefix.Name()) == 2 {
			dirs = append(dirs, filepath.Join(k.certDir, prefix.Name()))
		}
	}

	for _, dir := range dirs {
		files, _ := os.ReadDir(dir)
		for _, file := range files {
			if file.Type().IsRegular() && isTemporaryName(file.Name()) {
				os.Remove(filepath.Join(dir, file.Name()))
			}
		}
	}

	// The index is saved without the lock, so its temporary file may
	// belong to a save in progress. Removing it makes that save fail, and
	// the index is saved again by the next lookup.
	files, _ := os.ReadDir(k.dir)
	for _, file := range files {
		name := file.Name()
		indexTemporary := strings.HasPrefix(name, temporaryPrefix+indexFileName+"-")
		if file.Type().IsRegular() && isTemporaryName(name) && indexTemporary {
			os.Remove(filepath.Join(k.dir, name))
		}
	}
}

// syncDir flushes the entries of folder dir to disk.
func syncDir(dir string) error {
	return atomicfile.SyncDir(dir)
}

// makeDir creates dir with mode 0700 if it is missing, syncing its parent,
// and takes the group and other permissions off an existing dir. It leaves
// the owner's bits alone, so a keyring made read-only stays read-only.
func makeDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return syncDir(filepath.Dir(dir))
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to create folder %q: %w", dir, err)
	}

	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failed to read folder %q: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("failed to open keyring: %q is not a folder", dir)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			return fmt.Errorf("failed to set mode of folder %q: %w", dir, err)
		}
	}
	return nil
}

// writeCert stores the binary certificate data under fpr.
func (k *Keyring) writeCert(fpr string, data []byte) error {
	if err := makeDir(filepath.Join(k.certDir, fpr[:2])); err != nil {
		return err
	}
	return writeFileAtomic(k.certPath(fpr), data)
}

// writeSecret stores the binary transferable secret key data under fpr.
func (k *Keyring) writeSecret(fpr string, data []byte) error {
	return writeFileAtomic(k.secretPath(fpr), data)
}

// hexFingerprint returns fpr as lowercase hex.
func hexFingerprint(fpr []byte) string {
	return strings.ToLower(fmt.Sprintf("%x", fpr))
}
