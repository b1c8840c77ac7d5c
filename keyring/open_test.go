package keyring

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenTightensKeyringFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keyring")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatalf("Open: %v", err)
	}
	checkMode(t, dir, 0o700)
}
