package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// writeBehind stores the certificate of e as another cert-d tool would: a
// temporary file renamed into place, without sealmail's Import.
func writeBehind(t *testing.T, k *Keyring, e *openpgp.Entity) {
	t.Helper()
	fpr := fingerprint(e)
	dir := filepath.Join(k.certDir, fpr[:2])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "_other-tool-tmp")
	if err := os.WriteFile(tmp, publicBytes(t, e), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, k.certPath(fpr)); err != nil {
		t.Fatal(err)
	}
}

func TestIndexSeesWritesBehindIt(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	ann := generate(t, "Ann", "ann@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, ann))
	if _, err := k.EncryptionKey(ctx, "ann@example.org", time.Now()); err != nil {
		t.Fatalf("EncryptionKey(ann) after import: %v", err)
	}

	// Another tool adds a key, right after the lookup, so within the
	// same tick of the kernel's coarse clock.
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	writeBehind(t, k, bob)
	got, err := k.EncryptionKey(ctx, "BOB@example.org", time.Now())
	if err != nil {
		t.Fatalf("EncryptionKey(bob) after a write behind the index: %v", err)
	}
	if fingerprint(got) != fingerprint(bob) {
		t.Errorf("EncryptionKey(bob) = %s, want %s", fingerprint(got), fingerprint(bob))
	}

	// Another tool removes it.
	if err := os.Remove(k.certPath(fingerprint(bob))); err != nil {
		t.Fatal(err)
	}
	_, err = k.EncryptionKey(ctx, "bob@example.org", time.Now())
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("EncryptionKey(bob) after removal: err = %v, want ErrNotFound", err)
	}
}

func TestIndexSeesUserIDAddedBehindIt(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	e := generate(t, "Cy", "cy@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	if _, err := k.EncryptionKey(ctx, "cy@example.org", time.Now()); err != nil {
		t.Fatal(err)
	}

	// The same key, with a second user ID, replaces the file from outside.
	if err := e.AddUserId("Cy", "", "cy@work.example", nil); err != nil {
		t.Fatal(err)
	}
	writeBehind(t, k, e)
	if _, err := k.EncryptionKey(ctx, "cy@work.example", time.Now()); err != nil {
		t.Errorf("EncryptionKey for the added user ID: %v", err)
	}
}

func TestIndexSavedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Di", "di@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	if _, err := k.EncryptionKey(ctx, "di@example.org", time.Now()); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(filepath.Join(dir, indexFileName))
	if err != nil {
		t.Fatalf("index not saved: %v", err)
	}
	idx, err := parseIndex(data)
	if err != nil {
		t.Fatalf("saved index does not parse: %v", err)
	}
	if err := idx.parseLazy(); err != nil {
		t.Fatalf("saved certificate records do not parse: %v", err)
	}
	entry := idx.certs[fingerprint(e)]
	if entry == nil || len(entry.addresses) != 1 || entry.addresses[0] != "di@example.org" {
		t.Errorf("saved entry = %+v, want the address di@example.org", entry)
	}

	// A second process loads it and finds the key.
	k2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.EncryptionKey(ctx, "di@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey from a reloaded index: %v", err)
	}
}

func TestIndexDamagedIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Eve", "eve@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))

	for name, content := range map[string]string{
		"garbage":        "not an index\n",
		"empty":          "",
		"wrong entry":    indexMagic + "\ncert\t" + fingerprint(e) + "\tx\n",
		"missing folder": indexMagic + "\ncert\t" + fingerprint(e) + "\t1\t1\t1\t1\tab\t0\t\t\t\n",
		// An index that lists nothing but claims current folder times
		// must not hide the key: the folder times are checked.
		"stale": indexMagic + "\nroot\t1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, indexFileName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		k2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k2.EncryptionKey(ctx, "eve@example.org", time.Now()); err != nil {
			t.Errorf("%s index: EncryptionKey: %v", name, err)
		}
	}
}

func TestIndexReadOnlyKeyring(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file modes")
	}
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Flo", "flo@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	os.Remove(filepath.Join(dir, indexFileName))
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })

	k2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.EncryptionKey(context.Background(), "flo@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey in a read-only keyring: %v", err)
	}
}

func TestIndexCorruptFileNamed(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	e := generate(t, "Gil", "gil@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	path := k.certPath(fingerprint(e))
	if err := os.WriteFile(path, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err := k.EncryptionKey(ctx, "gil@example.org", time.Now())
	lookup := lookupError(t, err)
	if len(lookup.Unreadable) != 1 || lookup.Unreadable[0] != path {
		t.Errorf("Unreadable = %v, want [%s]", lookup.Unreadable, path)
	}
	entries, err := k.Find(ctx, fingerprint(e), time.Now())
	if err != nil {
		t.Fatalf("Find by fingerprint of the damaged file: %v", err)
	}
	if len(entries) != 1 || entries[0].Status != StatusUnreadable {
		t.Errorf("Find = %+v, want one unreadable entry", entries)
	}
}

func TestIndexFindBySubkeyAndKeyID(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	e := generate(t, "Hal", "hal@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	subkey := hexFingerprint(e.Subkeys[0].PublicKey.Fingerprint)

	for _, query := range []string{subkey, keyIDOf(subkey), keyIDOf(fingerprint(e)), "0x" + fingerprint(e)} {
		entries, err := k.Find(ctx, query, time.Now())
		if err != nil {
			t.Errorf("Find(%s): %v", query, err)
			continue
		}
		if len(entries) != 1 || entries[0].Fingerprint != fingerprint(e) {
			t.Errorf("Find(%s) = %v, want the key %s", query, entries, fingerprint(e))
		}
	}
}

func TestIndexConcurrentLookups(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	var keys []*openpgp.Entity
	for i := range 4 {
		e := generate(t, "User", fmt.Sprintf("user%d@example.org", i), GenerateOptions{})
		keys = append(keys, e)
	}

	var wg sync.WaitGroup
	for i, e := range keys {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := k.Import(ctx, bytes.NewReader(publicBytes(t, e))); err != nil {
				t.Errorf("Import: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			// The key may or may not be there yet; the lookup must not
			// race or fail otherwise.
			_, err := k.EncryptionKey(ctx, fmt.Sprintf("user%d@example.org", i), time.Now())
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Errorf("EncryptionKey: %v", err)
			}
		}()
	}
	wg.Wait()
	for i := range keys {
		if _, err := k.EncryptionKey(ctx, fmt.Sprintf("user%d@example.org", i), time.Now()); err != nil {
			t.Errorf("EncryptionKey(user%d) after the imports: %v", i, err)
		}
	}
}

func TestIndexLazyLookups(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ann := generate(t, "Ann", "ann@example.org", GenerateOptions{})
	// An address that contains Ann's must not match hers.
	joann := generate(t, "Jo", "joann@example.org", GenerateOptions{})
	importBytes(t, k, append(publicBytes(t, ann), publicBytes(t, joann)...))
	// Folder times this recent are not trusted; wait them out, as a
	// keyring at rest is, and let one lookup save trusted times.
	time.Sleep(racyWindow)
	if _, err := k.EncryptionKey(ctx, "ann@example.org", time.Now()); err != nil {
		t.Fatal(err)
	}
	k.saveIndexIfDirty()

	fresh, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	subkey := hexFingerprint(ann.Subkeys[0].PublicKey.Fingerprint)
	for _, key := range []string{"ann@example.org", fingerprint(ann), keyIDOf(fingerprint(ann)), subkey, keyIDOf(subkey)} {
		fprs, _, err := fresh.indexLookup(ctx, key, checkWhenStale)
		if err != nil {
			t.Fatal(err)
		}
		if len(fprs) != 1 || fprs[0] != fingerprint(ann) {
			t.Errorf("lookup %s = %v, want [%s]", key, fprs, fingerprint(ann))
		}
	}
	if fresh.index.lazy == nil {
		t.Error("lookups in an unchanged keyring parsed every record")
	}
}

func TestIndexLazyRecordsDamaged(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Kim", "kim@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	time.Sleep(racyWindow)
	if _, err := k.EncryptionKey(ctx, "kim@example.org", time.Now()); err != nil {
		t.Fatal(err)
	}
	k.saveIndexIfDirty()

	// Change the address in the saved record: the checksum no longer
	// matches, so the index is rebuilt instead of trusted.
	path := filepath.Join(dir, indexFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Replace(data, []byte("kim%40example.org"), []byte("kix%40example.org"), 1)
	if bytes.Equal(damaged, data) {
		t.Fatal("the saved index does not contain the address")
	}
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.EncryptionKey(ctx, "kim@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey with damaged index records: %v", err)
	}
}
