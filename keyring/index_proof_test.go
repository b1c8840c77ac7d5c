package keyring

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// countParses counts the certificates parsed until the returned function
// is called, which returns their fingerprints.
func countParses(t *testing.T) (stop func() []string) {
	t.Helper()
	var mu sync.Mutex
	var parsed []string
	onCertParse = func(fpr string) {
		mu.Lock()
		defer mu.Unlock()
		parsed = append(parsed, fpr)
	}
	stop = func() []string {
		onCertParse = nil
		mu.Lock()
		defer mu.Unlock()
		sort.Strings(parsed)
		return parsed
	}
	t.Cleanup(func() { stop() })
	return stop
}

// setIndexClock makes the index judge modification times against now
// until the test ends.
func setIndexClock(t *testing.T, now time.Time) {
	t.Cleanup(func() { indexClock = time.Now })
	indexClock = func() time.Time { return now }
}

// samePrefixKeys returns two keys for address whose fingerprints share
// their first two hex digits, so that they are stored in one prefix folder.
func samePrefixKeys(t *testing.T, address string) (*openpgp.Entity, *openpgp.Entity) {
	t.Helper()
	byPrefix := map[string]*openpgp.Entity{}
	for i := range 2000 {
		e := generate(t, fmt.Sprintf("Key %d", i), address, GenerateOptions{})
		prefix := fingerprint(e)[:2]
		if first := byPrefix[prefix]; first != nil {
			return first, e
		}
		byPrefix[prefix] = e
	}
	t.Fatal("no two generated keys share a prefix folder")
	return nil, nil
}

func TestLookupParsesOnlyMatchingCertificates(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 40 {
		address := fmt.Sprintf("other%d@example.org", i)
		all.Write(publicBytes(t, generate(t, "Other", address, GenerateOptions{})))
	}
	first := generate(t, "Pat", "pat@example.org", GenerateOptions{})
	second := generate(t, "Pat", "pat@example.org", GenerateOptions{})
	all.Write(publicBytes(t, first))
	all.Write(publicBytes(t, second))
	importBytes(t, k, all.Bytes())
	// A lookup saves the index, as the first send of a new keyring does.
	if _, err := k.EncryptionKey(ctx, "pat@example.org", time.Now()); err != nil {
		t.Fatal(err)
	}
	want := []string{fingerprint(first), fingerprint(second)}
	sort.Strings(want)

	lookups := map[string]func(k *Keyring) error{
		"EncryptionKey": func(k *Keyring) error {
			_, err := k.EncryptionKey(ctx, "PAT@example.org", time.Now())
			return err
		},
		"Find": func(k *Keyring) error {
			_, err := k.Find(ctx, "pat@example.org", time.Now())
			return err
		},
		"ListAddresses": func(k *Keyring) error {
			entries, err := k.ListAddresses(ctx, time.Now(), []string{"pat@example.org"})
			if err == nil && len(entries) != 2 {
				err = fmt.Errorf("got %d entries, want 2", len(entries))
			}
			return err
		},
	}
	for name, lookup := range lookups {
		t.Run(name, func(t *testing.T) {
			// A new process: the index is loaded from its file.
			k, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			stop := countParses(t)
			if err := lookup(k); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := stop(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s parsed %d certificates, want only the two for the address: %v", name, len(got), want)
			}
		})
	}
}

// A write in the same tick of the kernel's clock as the scan that saved the
// index leaves the folder time it recorded. Such recent times are not
// recorded, so the next process scans the folder and finds the new key.
func TestIndexDistrustsRecentFolderTime(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, second := samePrefixKeys(t, "sam@example.org")
	importBytes(t, k, publicBytes(t, first))
	folder := filepath.Join(k.certDir, fingerprint(first)[:2])
	info, err := os.Stat(folder)
	if err != nil {
		t.Fatal(err)
	}
	scanned := info.ModTime()

	// A process scans the folder half a second after its last write and
	// saves the index.
	setIndexClock(t, scanned.Add(racyWindow/4))
	k2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if entries, err := k2.Find(ctx, "sam@example.org", time.Now()); err != nil || len(entries) != 1 {
		t.Fatalf("Find before the second key = %d entries, %v; want 1", len(entries), err)
	}
	indexClock = time.Now

	// Another cert-d tool adds a second key for the address within the
	// same tick: the folder keeps the time the scan saw.
	writeBehind(t, k, second)
	if err := os.Chtimes(folder, scanned, scanned); err != nil {
		t.Fatal(err)
	}

	k3, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := k3.Find(ctx, "sam@example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("Find after a write in the same tick found %d keys, want 2: %+v", len(entries), entries)
	}
}

// A folder whose modification time lies in the future is recorded with that
// time, so lookups neither scan it again nor save the index each time.
func TestIndexKeepsFutureFolderTime(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Fay", "fay@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	folder := filepath.Join(k.certDir, fingerprint(e)[:2])
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(folder, future, future); err != nil {
		t.Fatal(err)
	}
	// Everything else is old enough to be trusted.
	setIndexClock(t, time.Now().Add(time.Minute))

	lookup := func() fileStamp {
		t.Helper()
		k, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.EncryptionKey(ctx, "fay@example.org", time.Now()); err != nil {
			t.Fatal(err)
		}
		stamp, err := exactStamp(filepath.Join(dir, indexFileName))
		if err != nil {
			t.Fatal(err)
		}
		return stamp
	}
	saved := lookup()
	stop := countParses(t)
	if again := lookup(); again != saved {
		t.Errorf("a lookup saved the index again although nothing changed: %+v, then %+v", saved, again)
	}
	if parsed := stop(); len(parsed) != 1 {
		t.Errorf("the lookup parsed %d certificates, want only the one it returns", len(parsed))
	}

	// A write into the folder stamps the present, so it is seen.
	indexClock = time.Now
	other := generate(t, "Fay", "fay@example.org", GenerateOptions{})
	writeBehind(t, k, other)
	k2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := k2.Find(ctx, "fay@example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("Find after a write found %d keys, want 2", len(entries))
	}
}
