package keyring

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// The importer subprocess: the test binary run again with these variables
// set imports files into a keyring and exits, so that tests can run several
// writers as separate processes and kill them mid-write.
const (
	importerEnv       = "SEALMAIL_TEST_IMPORTER"        // the keyring folder
	importerFilesEnv  = "SEALMAIL_TEST_IMPORTER_FILES"  // files to import, in order, joined by os.PathListSeparator
	importerRoundsEnv = "SEALMAIL_TEST_IMPORTER_ROUNDS" // how many times to import the list; 0 is forever
)

// TestImporterProcess is not a test: it is the body of the importer
// subprocess, and returns at once in a normal test run.
func TestImporterProcess(t *testing.T) {
	dir := os.Getenv(importerEnv)
	if dir == "" {
		return
	}
	files := filepath.SplitList(os.Getenv(importerFilesEnv))
	rounds, _ := strconv.Atoi(os.Getenv(importerRoundsEnv))

	k, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "importer:", err)
		os.Exit(1)
	}
	for round := 0; rounds == 0 || round < rounds; round++ {
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err == nil {
				_, err = k.Import(context.Background(), bytes.NewReader(data))
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "importer: %s: %v\n", file, err)
				os.Exit(1)
			}
		}
	}
	os.Exit(0)
}

// importerCommand returns the command that runs the importer subprocess on
// the keyring in dir with files, rounds times (0 for forever).
func importerCommand(t *testing.T, dir string, files []string, rounds int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestImporterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		importerEnv+"="+dir,
		importerFilesEnv+"="+strings.Join(files, string(os.PathListSeparator)),
		importerRoundsEnv+"="+strconv.Itoa(rounds),
	)
	return cmd
}

// writeInputs writes each of inputs to a file of its own under t.TempDir
// and returns the paths.
func writeInputs(t *testing.T, inputs [][]byte) []string {
	t.Helper()
	dir := t.TempDir()
	paths := make([]string, len(inputs))
	for i, data := range inputs {
		paths[i] = filepath.Join(dir, fmt.Sprintf("input-%d.pgp", i))
		if err := os.WriteFile(paths[i], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// runImporters starts one importer subprocess per file list at the same
// time and fails the test when any of them fails.
func runImporters(t *testing.T, dir string, fileLists [][]string, rounds int) {
	t.Helper()
	cmds := make([]*exec.Cmd, len(fileLists))
	outputs := make([]*bytes.Buffer, len(fileLists))
	for i, files := range fileLists {
		cmds[i] = importerCommand(t, dir, files, rounds)
		outputs[i] = new(bytes.Buffer)
		cmds[i].Stdout = outputs[i]
		cmds[i].Stderr = outputs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatalf("failed to start importer %d: %v", i, err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("importer %d failed: %v\n%s", i, err, outputs[i])
		}
	}
}

// withSubkeys returns the certificate of e with its first n subkeys, and
// then the subkeys extra, which must belong to e.
func withSubkeys(t *testing.T, e *openpgp.Entity, n int, extra ...openpgp.Subkey) []byte {
	t.Helper()
	copied := *e
	copied.Subkeys = append(append([]openpgp.Subkey(nil), e.Subkeys[:n]...), extra...)
	return publicBytes(t, &copied)
}

// subkeyFingerprints returns the set of subkey fingerprints of e.
func subkeyFingerprints(e *openpgp.Entity) map[string]bool {
	fprs := make(map[string]bool, len(e.Subkeys))
	for _, subkey := range e.Subkeys {
		fprs[hexFingerprint(subkey.PublicKey.Fingerprint)] = true
	}
	return fprs
}

func TestConcurrentProcessesImportDifferentKeys(t *testing.T) {
	const processes, keysEach = 4, 5
	dir := t.TempDir()

	var all []*openpgp.Entity
	fileLists := make([][]string, processes)
	for p := range processes {
		var inputs [][]byte
		for i := range keysEach {
			address := fmt.Sprintf("p%d-k%d@example.org", p, i)
			e := generate(t, "Key "+address, address, GenerateOptions{})
			all = append(all, e)
			// Secret keys, so that each import writes a certificate, a
			// secret key and a provenance file.
			inputs = append(inputs, secretBytes(t, e))
		}
		fileLists[p] = writeInputs(t, inputs)
	}

	runImporters(t, dir, fileLists, 1)

	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != len(all) {
		t.Errorf("List returned %d keys, want %d", len(entries), len(all))
	}
	for _, entry := range entries {
		if entry.Status != StatusValid {
			t.Errorf("%s has status %q (%s), want valid", entry.Fingerprint, entry.Status, entry.Problem)
		}
		if !entry.Secret {
			t.Errorf("%s lost its secret key", entry.Fingerprint)
		}
	}
	for _, e := range all {
		address := e.Identities[userIDs(e)[0]].UserId.Email
		got, err := k.EncryptionKey(context.Background(), address, time.Now())
		if err != nil {
			t.Errorf("EncryptionKey(%q): %v", address, err)
			continue
		}
		if fingerprint(got) != fingerprint(e) {
			t.Errorf("EncryptionKey(%q) = %s, want %s", address, fingerprint(got), fingerprint(e))
		}
		if _, err := k.SigningKey(context.Background(), address, time.Now()); err != nil {
			t.Errorf("SigningKey(%q): %v", address, err)
		}
	}
}

func TestConcurrentProcessesMergeSubkeys(t *testing.T) {
	const processes, rounds = 3, 5
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}

	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Olga", "olga@example.org", GenerateOptions{Now: created})
	base := len(e.Subkeys)
	importBytes(t, k, publicBytes(t, e))

	// Each process imports the key with a new subkey of its own, made
	// after the key and never seen by the other processes.
	fileLists := make([][]string, processes)
	for p := range processes {
		later := &packet.Config{Time: func() time.Time { return created.Add(time.Duration(p+1) * time.Minute) }}
		if err := e.AddEncryptionSubkey(later); err != nil {
			t.Fatalf("AddEncryptionSubkey: %v", err)
		}
		update := withSubkeys(t, e, base, e.Subkeys[len(e.Subkeys)-1])
		fileLists[p] = writeInputs(t, [][]byte{update})
	}

	runImporters(t, dir, fileLists, rounds)

	stored, err := k.readCert(fingerprint(e))
	if err != nil {
		t.Fatalf("readCert: %v", err)
	}
	want := subkeyFingerprints(e)
	got := subkeyFingerprints(stored)
	for fpr := range want {
		if !got[fpr] {
			t.Errorf("subkey %s is missing from the merged key", fpr)
		}
	}
	if len(got) != len(want) {
		t.Errorf("merged key has %d subkeys, want %d", len(got), len(want))
	}
	for i := range stored.Subkeys {
		if _, err := stored.Subkeys[i].Verify(time.Now(), nil); err != nil {
			t.Errorf("subkey %X is not valid after the merge: %v", stored.Subkeys[i].PublicKey.Fingerprint, err)
		}
	}
}

// TestImportKilledLeavesStoreReadable kills an importer with SIGKILL at
// random points while it merges updates into a few keys, and checks after
// each kill that every stored file reads back as a complete version of its
// key, and that no subkey stored before the kill is lost.
func TestImportKilledLeavesStoreReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("kills importer processes for several seconds")
	}
	const iterations = 30
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}

	// Three keys, each with four updates that add one subkey, imported
	// as secret keys so that the secret folder is written too; and a
	// revocation of one subkey, so that merges also add signatures.
	var keys []*openpgp.Entity
	var inputs [][]byte
	for i := range 3 {
		address := fmt.Sprintf("crash%d@example.org", i)
		created := time.Now().Add(-time.Hour).Truncate(time.Second)
		e := generate(t, "Crash "+address, address, GenerateOptions{Now: created})
		base := len(e.Subkeys)
		inputs = append(inputs, secretBytes(t, e))
		for u := range 4 {
			later := &packet.Config{Time: func() time.Time { return created.Add(time.Duration(u+1) * time.Minute) }}
			if err := e.AddEncryptionSubkey(later); err != nil {
				t.Fatalf("AddEncryptionSubkey: %v", err)
			}
			inputs = append(inputs, withSubkeys(t, e, base, e.Subkeys[len(e.Subkeys)-1]))
		}
		keys = append(keys, e)
	}
	files := writeInputs(t, inputs)

	seen := make(map[string]map[string]bool) // subkeys stored so far, by key
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < iterations && time.Now().Before(deadline); i++ {
		cmd := importerCommand(t, dir, files, 0)
		var output bytes.Buffer
		cmd.Stderr = &output
		if err := cmd.Start(); err != nil {
			t.Fatalf("failed to start the importer: %v", err)
		}
		// The first imports start after the test binary has started,
		// which takes some milliseconds of its own.
		time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("failed to kill the importer: %v", err)
		}
		err := cmd.Wait()
		if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() {
			t.Fatalf("iteration %d: the importer ended before the kill: %v\n%s", i, err, output.Bytes())
		}

		checkStoreAfterKill(t, k, keys, seen, i)
	}

	// A writer after the kills takes the lock and completes the keys.
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		importBytes(t, k, data)
	}
	for _, e := range keys {
		stored, err := k.readCert(fingerprint(e))
		if err != nil {
			t.Fatalf("readCert after the kills: %v", err)
		}
		if got, want := len(stored.Subkeys), len(e.Subkeys); got != want {
			t.Errorf("key %s has %d subkeys after the last import, want %d", fingerprint(e), got, want)
		}
	}
	checkNoTemporaryFiles(t, dir)
}

// checkStoreAfterKill checks the store after an importer was killed: every
// certificate and secret key file parses as the key its name promises, List
// and lookups report no unreadable file, and every key keeps the subkeys
// seen after earlier kills. It adds the subkeys it finds to seen.
func checkStoreAfterKill(t *testing.T, k *Keyring, keys []*openpgp.Entity, seen map[string]map[string]bool, iteration int) {
	t.Helper()
	fprs, err := k.certFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	for _, fpr := range fprs {
		cert, err := k.readCert(fpr)
		if err != nil {
			t.Fatalf("iteration %d: certificate %s does not read back: %v", iteration, fpr, err)
		}
		got := subkeyFingerprints(cert)
		for subkey := range seen[fpr] {
			if !got[subkey] {
				t.Errorf("iteration %d: key %s lost subkey %s", iteration, fpr, subkey)
			}
		}
		seen[fpr] = got
	}
	secrets, err := k.secretFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	for _, fpr := range secrets {
		if _, err := k.readSecret(fpr); err != nil {
			t.Fatalf("iteration %d: secret key %s does not read back: %v", iteration, fpr, err)
		}
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("iteration %d: List: %v", iteration, err)
	}
	if len(entries) != len(fprs) {
		t.Errorf("iteration %d: List returned %d entries for %d certificate files", iteration, len(entries), len(fprs))
	}
	for _, entry := range entries {
		if entry.Status == StatusUnreadable {
			t.Errorf("iteration %d: List reports %s as unreadable: %s", iteration, entry.Path, entry.Problem)
		}
	}
	for _, e := range keys {
		if seen[fingerprint(e)] == nil {
			continue
		}
		address := e.Identities[userIDs(e)[0]].UserId.Email
		if _, err := k.EncryptionKey(context.Background(), address, time.Now()); err != nil {
			t.Errorf("iteration %d: EncryptionKey(%q): %v", iteration, address, err)
		}
	}
}

// checkNoTemporaryFiles fails the test when a temporary file of
// writeFileAtomic is left anywhere under dir.
func checkNoTemporaryFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLockRemovesStaleTemporaryFiles(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Pia", "pia@example.org", GenerateOptions{})
	importBytes(t, k, secretBytes(t, e))
	fpr := fingerprint(e)
	prefixDir := filepath.Dir(k.certPath(fpr))

	// Files as a killed writer leaves them, and files of other programs
	// that must stay: a Rust tempfile name, a draft "_" implementation
	// file and a copy kept by Import.
	stale := []string{
		filepath.Join(prefixDir, ".tmp-"+fpr[2:]+"-123456"),
		filepath.Join(prefixDir, ".tmp-"+fpr[2:]+".corrupt-42"),
		filepath.Join(k.secretDir, ".tmp-"+fpr+"-987"),
		filepath.Join(k.dir, provenanceDirName, ".tmp-"+fpr+".json-5"),
	}
	foreign := []string{
		filepath.Join(prefixDir, ".tmpAb3xYz"),
		filepath.Join(prefixDir, ".tmp-"+fpr[2:]+"-12x"),
		filepath.Join(k.certDir, "_sealmail_test"),
		k.certPath(fpr) + ".corrupt",
	}
	for _, path := range append(append([]string(nil), stale...), foreign...) {
		if err := os.WriteFile(path, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := k.Remove(context.Background(), strings.Repeat("0", 40)); err == nil {
		t.Fatal("Remove of an unknown fingerprint succeeded")
	}
	for _, path := range stale {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("stale temporary file %s is still there (%v)", path, err)
		}
	}
	for _, path := range foreign {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("file %s of another program was removed: %v", path, err)
		}
	}
}
