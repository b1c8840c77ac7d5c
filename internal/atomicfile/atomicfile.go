// Package atomicfile replaces files so that a reader, or the file system
// after a crash, finds either the old content or the new one, never a part.
//
// The new content goes to a temporary file of mode 0600 in the same folder,
// which is synced, renamed over the target and followed by a sync of the
// folder, so that the rename itself is on disk. Callers choose the name of
// the temporary file, because each of them skips or cleans up its own kind.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data. The temporary file is named by pattern, as
// os.CreateTemp takes it.
func Write(path string, data []byte, pattern string) error {
	return WriteFunc(path, pattern, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteFunc replaces path with what write writes to the temporary file. An
// error from write is returned as it is, and path is left unchanged.
func WriteFunc(path, pattern string, write func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return fmt.Errorf("failed to create a temporary file in %q: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("failed to set the mode of %q: %w", tmp.Name(), err)
	}
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("failed to sync %q: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to close %q: %w", tmp.Name(), err)
	}
	if BeforeRename != nil {
		BeforeRename(tmp.Name(), path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to rename %q to %q: %w", tmp.Name(), path, err)
	}
	return SyncDir(dir)
}

// BeforeRename, when set, is called with the name of the written, synced
// and closed temporary file and the path it is about to replace. Only tests
// set it, to stop a writer at that point and check what a crash leaves.
var BeforeRename func(tmp, path string)

// SyncDir flushes the entries of the folder dir to disk, as after a rename
// or a removal in it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open folder %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync folder %q: %w", dir, err)
	}
	return nil
}
