//go:build !unix

package spool

import (
	"errors"
	"os"
)

// tryLock fails where flock is missing, so that no entry is ever sent
// without the lock that keeps two processes from sending it.
// TODO: lock the message file with LockFileEx on Windows.
func tryLock(*os.File) error {
	return errors.New("file locking is not implemented on this system, so the spool cannot be used here")
}

func unlock(*os.File) {}
