package keyring

import "time"

// LockWaitNotice is how long a writer waits for the writelock, held by
// another program, before it calls the function set with OnLockWait.
const LockWaitNotice = time.Second

// OnLockWait sets the function that every writing method (Import,
// ImportWithOptions, AddTrustAnchor, Confirm, Remove and RemoveKey) calls
// once, with the path of the writelock file, when another program has held
// the writelock of the certificate directory for LockWaitNotice. The wait
// goes on until the lock is free or the context of the call is done. The
// function runs on the waiting goroutine and should return quickly, such as
// after printing a notice. A nil function, the default, disables the notice.
func (k *Keyring) OnLockWait(notify func(path string)) {
	k.lockWaitMu.Lock()
	defer k.lockWaitMu.Unlock()
	k.lockWait = notify
}

// lockWaitFunc returns the function set with OnLockWait.
func (k *Keyring) lockWaitFunc() func(path string) {
	k.lockWaitMu.Lock()
	defer k.lockWaitMu.Unlock()
	return k.lockWait
}
