//go:build unix

package keyring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lock takes the exclusive flock on the writelock file of the certificate
// directory, which every writer of the directory holds, and returns the
// function that releases it. The same lock guards the secret, provenance and
// corrupt folders. Once it holds the lock, it removes the temporary files
// of writers that were killed.
//
// It polls with LOCK_NB rather than blocking in flock, because a blocked
// flock can be stopped neither by ctx nor by a signal that Go handles. When
// another program holds the lock for LockWaitNotice, the function set with
// OnLockWait is called once. A cancelled ctx ends the wait with an error
// that wraps ctx.Err().
func (k *Keyring) lock(ctx context.Context) (unlock func(), err error) {
	path := filepath.Join(k.certDir, writeLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file %q: %w", path, err)
	}

	if err := k.waitForLock(ctx, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock %q: %w", path, err)
	}

	k.removeTemporaryFiles()
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Polling intervals of waitForLock: short at first, so that two sealmail
// writers that take turns lose little time, and longer while another
// program holds the lock for long.
const (
	lockPollFirst = time.Millisecond
	lockPollMax   = 50 * time.Millisecond
)

// waitForLock takes the flock on f, trying again until it is free or ctx
// is done.
func (k *Keyring) waitForLock(ctx context.Context, f *os.File) error {
	start := time.Now()
	notified := false
	interval := lockPollFirst
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch err {
		case nil:
			return nil
		case syscall.EWOULDBLOCK, syscall.EINTR:
		default:
			return err
		}

		if !notified && time.Since(start) >= LockWaitNotice {
			notified = true
			if notify := k.lockWaitFunc(); notify != nil {
				notify(f.Name())
			}
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("stopped while another program held the lock: %w", ctx.Err())
		case <-timer.C:
		}
		interval = min(2*interval, lockPollMax)
	}
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
