package keyring

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadersDoNotCreateWritelock checks that opening and reading a keyring
// writes nothing, so that a read-only keyring can be read. Only Import and
// Remove take the lock, and they create the writelock file.
func TestReadersDoNotCreateWritelock(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Kim", "kim@example.org", GenerateOptions{})
	importBytes(t, k, secretBytes(t, e))
	lockPath := filepath.Join(dir, "pgp.cert.d", "writelock")
	if err := os.Remove(lockPath); err != nil {
		t.Fatalf("the import made no writelock: %v", err)
	}

	ctx := context.Background()
	k, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.List(ctx, time.Now()); err != nil {
		t.Errorf("List: %v", err)
	}
	if _, err := k.EncryptionKey(ctx, "kim@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey: %v", err)
	}
	if _, err := k.SigningKey(ctx, "kim@example.org", time.Now()); err != nil {
		t.Errorf("SigningKey: %v", err)
	}
	if _, err := k.Find(ctx, "kim@example.org", time.Now()); err != nil {
		t.Errorf("Find: %v", err)
	}
	if _, err := k.Export(ctx, fingerprint(e)); err != nil {
		t.Errorf("Export: %v", err)
	}
	if _, err := os.Stat(lockPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a reader created the writelock (stat: %v)", err)
	}

	if _, err := k.Remove(ctx, fingerprint(e)); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(lockPath); err != nil {
		t.Errorf("Remove did not take the writelock: %v", err)
	}
}

// TestOpenKeepsReadOnlyFolders checks that Open leaves folders that their
// owner made read-only as they are. Root ignores the mode bits, so the
// reads here prove nothing about permissions when run as root, but the
// modes are checked either way.
func TestOpenKeepsReadOnlyFolders(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, publicBytes(t, generate(t, "Kim", "kim@example.org", GenerateOptions{})))

	folders := []string{filepath.Join(dir, "secret"), filepath.Join(dir, "pgp.cert.d"), dir}
	for _, folder := range folders {
		if err := os.Chmod(folder, 0o500); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, folder := range folders {
			os.Chmod(folder, 0o700)
		}
	})

	k, err = Open(dir)
	if err != nil {
		t.Fatalf("Open of a read-only keyring: %v", err)
	}
	for _, folder := range folders {
		checkMode(t, folder, 0o500)
	}
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List of a read-only keyring: %v", err)
	}
	if len(entries) != 1 {
		t.Errorf("List returned %d entries, want 1", len(entries))
	}
	if _, err := k.EncryptionKey(context.Background(), "kim@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey in a read-only keyring: %v", err)
	}
}
