//go:build unix

package keyring

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// holdWriteLock takes the writelock of k as another cert-d writer would,
// through a file description of its own, and returns the function that
// releases it.
func holdWriteLock(t *testing.T, k *Keyring) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(k.certDir, writeLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		t.Fatalf("failed to take the writelock: %v", err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			f.Close()
		}
	}
	t.Cleanup(release)
	return release
}

func TestImportLockWaitNotifiesAndCancels(t *testing.T) {
	k := openTemp(t)
	waiting := make(chan string, 2)
	k.OnLockWait(func(path string) { waiting <- path })
	ann := generate(t, "Ann", "ann@example.org", GenerateOptions{})
	release := holdWriteLock(t, k)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := k.Import(ctx, bytes.NewReader(publicBytes(t, ann)))
		done <- err
	}()

	select {
	case path := <-waiting:
		if want := filepath.Join(k.certDir, writeLockName); path != want {
			t.Errorf("OnLockWait got %q, want %q", path, want)
		}
	case err := <-done:
		t.Fatalf("Import returned while another program held the lock: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("OnLockWait was not called while another program held the lock")
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Import after cancel = %v, want an error that wraps context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Import did not stop when its context was cancelled")
	}
	if len(waiting) != 0 {
		t.Error("OnLockWait was called more than once")
	}
	if _, err := os.Stat(k.certPath(fingerprint(ann))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cancelled import stored the certificate: %v", err)
	}

	// Once the other writer is done, an import goes through.
	release()
	importBytes(t, k, publicBytes(t, ann))
	if _, err := k.EncryptionKey(context.Background(), "ann@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey after the lock was released: %v", err)
	}
}
