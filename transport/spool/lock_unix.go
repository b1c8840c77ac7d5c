//go:build unix

package spool

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes the exclusive flock on f without waiting. It returns
// errBusy when another open file description has the lock.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errBusy
		case errors.Is(err, syscall.EINTR):
			continue
		default:
			return err
		}
	}
}

// unlock releases the flock on f. Closing f releases it too.
func unlock(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
