//go:build unix

package keyring

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/sealmail/sealmail/internal/atomicfile"
)

// The dying importer: the test binary run again with these variables set
// imports a file into a keyring and is killed by its own hand once the new
// certificate is half written to its temporary file, before the rename.
const (
	dyingImporterEnv     = "SEALMAIL_TEST_DYING_IMPORTER"      // the keyring folder
	dyingImporterFileEnv = "SEALMAIL_TEST_DYING_IMPORTER_FILE" // the file to import
)

// TestDyingImporterProcess is not a test: it is the body of the dying
// importer subprocess, and returns at once in a normal test run.
func TestDyingImporterProcess(t *testing.T) {
	dir := os.Getenv(dyingImporterEnv)
	if dir == "" {
		return
	}
	k, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "importer:", err)
		os.Exit(1)
	}
	atomicfile.BeforeRename = func(tmp, path string) {
		if !strings.HasPrefix(path, k.certDir+string(os.PathSeparator)) {
			return
		}
		// What a crash in the middle of the write leaves: a part of the
		// new certificate in the temporary file.
		info, err := os.Stat(tmp)
		if err == nil {
			err = os.Truncate(tmp, info.Size()/2)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "importer:", err)
			os.Exit(1)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	data, err := os.ReadFile(os.Getenv(dyingImporterFileEnv))
	if err == nil {
		_, err = k.Import(context.Background(), bytes.NewReader(data))
	}
	fmt.Fprintln(os.Stderr, "importer: the import ended without writing a certificate through a temporary file:", err)
	os.Exit(1)
}

func TestImportKilledBeforeRenameKeepsOldKey(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Kim", "kim@example.org", GenerateOptions{Now: created})
	importBytes(t, k, publicBytes(t, e))
	fpr := fingerprint(e)
	old, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}

	// The update adds a subkey, so the merged certificate differs.
	later := &packet.Config{Time: func() time.Time { return created.Add(time.Minute) }}
	if err := e.AddEncryptionSubkey(later); err != nil {
		t.Fatal(err)
	}
	files := writeInputs(t, [][]byte{publicBytes(t, e)})
	cmd := exec.Command(os.Args[0], "-test.run=^TestDyingImporterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), dyingImporterEnv+"="+dir, dyingImporterFileEnv+"="+files[0])
	var output bytes.Buffer
	cmd.Stderr = &output
	err = cmd.Run()
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() {
		t.Fatalf("the importer was not killed before the rename of the certificate: %v\n%s", err, output.Bytes())
	}

	leftovers, _ := filepath.Glob(filepath.Join(k.certDir, fpr[:2], temporaryPrefix+"*"))
	if len(leftovers) != 1 {
		t.Errorf("the importer left %d temporary files, want its half-written one", len(leftovers))
	}

	// The certificate is the old one, byte for byte, and lookups use it.
	got, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, old) {
		t.Fatalf("the certificate changed although the importer died before the rename: %d bytes, had %d", len(got), len(old))
	}
	k2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := k2.EncryptionKey(context.Background(), "kim@example.org", time.Now())
	if err != nil {
		t.Fatalf("EncryptionKey after the kill: %v", err)
	}
	if len(stored.Subkeys) != 1 {
		t.Errorf("stored key has %d subkeys, want the old key's 1", len(stored.Subkeys))
	}
	entries, err := k2.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.Status == StatusUnreadable {
			t.Errorf("List reports an unreadable file after the kill: %s: %s", entry.Path, entry.Problem)
		}
	}

	// The next writer removes the half-written temporary file and stores
	// the update.
	importBytes(t, k2, publicBytes(t, e))
	checkNoTemporaryFiles(t, dir)
	updated, err := k2.readCert(fpr)
	if err != nil {
		t.Fatal(err)
	}
	if len(updated.Subkeys) != 2 {
		t.Errorf("key has %d subkeys after the import, want 2", len(updated.Subkeys))
	}
}
