//go:build unix

package keyring

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lock takes the exclusive flock on the writelock file of the certificate
// directory, which every writer of the directory holds, and returns the
// function that releases it. The same lock guards the secret folder and the
// provenance folder. Once it holds the lock, it removes the temporary files
// of writers that were killed.
func (k *Keyring) lock() (unlock func(), err error) {
	path := filepath.Join(k.certDir, writeLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file %q: %w", path, err)
	}

	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock %q: %w", path, err)
	}

	k.removeTemporaryFiles()
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// checkOwnFolder returns an error when dir belongs to another user than
// the one running sealmail, who could then replace what is stored in it.
func checkOwnFolder(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failed to read keyring folder %q: %w", dir, err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("the keyring folder %q belongs to user ID %d, not to you (%d): another user could change the keys in it; use a keyring of your own with --home", dir, st.Uid, os.Geteuid())
	}
	return nil
}
