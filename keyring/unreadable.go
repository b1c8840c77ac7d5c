package keyring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// unreadableFile is a stored certificate or secret key file that could not
// be read or parsed. Readers skip such a file and report it, so that one
// damaged file does not make the whole keyring unusable.
type unreadableFile struct {
	fingerprint string // from the file name
	path        string
	secret      bool // the file is in the secret folder
	// corrupt is set when the file was read but its content is not the key
	// its name promises. It is unset for an I/O error, which may pass.
	corrupt bool
	err     error
}

func (u *unreadableFile) Error() string {
	return fmt.Sprintf("failed to read stored key file %q: %v", u.path, u.err)
}

func (u *unreadableFile) Unwrap() error { return u.err }

// asUnreadable returns err as an *unreadableFile, or nil when it is another
// kind of error.
func asUnreadable(err error) *unreadableFile {
	var unreadable *unreadableFile
	if errors.As(err, &unreadable) {
		return unreadable
	}
	return nil
}

// unreadablePaths returns the paths of files.
func unreadablePaths(files []*unreadableFile) []string {
	paths := make([]string, 0, len(files))
	for _, file := range files {
		paths = append(paths, file.path)
	}
	return paths
}

// withUnreadable adds the paths of the skipped files to err when it is a
// *LookupError, so that the user learns that a missing key may be in one of
// them.
func withUnreadable(err error, files []*unreadableFile) error {
	var lookup *LookupError
	if len(files) > 0 && errors.As(err, &lookup) {
		lookup.Unreadable = unreadablePaths(files)
	}
	return err
}

// unreadableNote returns the sentence that LookupError adds about stored
// files that could not be read, or "" when there are none.
func unreadableNote(paths []string) string {
	switch len(paths) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("; 1 stored file could not be read and may hold the key: %q; run \"sealmail keyring list\" to see why", paths[0])
	}
	quoted := make([]string, len(paths))
	for i, path := range paths {
		quoted[i] = strconv.Quote(path)
	}
	return fmt.Sprintf("; %d stored files could not be read and may hold the key: %s; run \"sealmail keyring list\" to see why",
		len(paths), strings.Join(quoted, ", "))
}

// maxKeptCopies bounds the names keepUnreadable tries for one file in one
// second.
const maxKeptCopies = 100

// keepUnreadable copies the corrupt stored file to the folder "corrupt" of
// the keyring, mode 0700, and returns the path of the copy. The copy is
// named by the fingerprint, the kind of file and the time in UTC, such as
// "<fingerprint>.certificate.20260102T150405Z", with ".N" added when that
// name is taken. It stays outside the certificate directory, where every
// file must be a certificate. The caller holds the lock.
func (k *Keyring) keepUnreadable(file *unreadableFile) (string, error) {
	data, err := os.ReadFile(file.path)
	if err != nil {
		return "", fmt.Errorf("failed to read %q to keep a copy: %w", file.path, err)
	}
	dir := filepath.Join(k.dir, corruptDirName)
	if err := makeDir(dir); err != nil {
		return "", err
	}

	kind := "certificate"
	if file.secret {
		kind = "secret"
	}
	base := filepath.Join(dir, file.fingerprint+"."+kind+"."+time.Now().UTC().Format("20060102T150405Z"))
	for n := 1; n <= maxKeptCopies; n++ {
		name := base
		if n > 1 {
			name += "." + strconv.Itoa(n)
		}
		// Creating the name exclusively reserves it, so an older copy is
		// never overwritten; writeFileAtomic then fills it in.
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("failed to keep a copy of %q: %w", file.path, err)
		}
		f.Close()

		if err := writeFileAtomic(name, data); err != nil {
			os.Remove(name)
			return "", fmt.Errorf("failed to keep a copy of %q: %w", file.path, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("failed to keep a copy of %q: %d copies of this second exist already in %q", file.path, maxKeptCopies, dir)
}
