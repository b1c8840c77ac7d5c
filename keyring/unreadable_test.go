package keyring

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// corruptFile writes random bytes over the file at path.
func corruptFile(t *testing.T, path string) []byte {
	t.Helper()
	junk := make([]byte, 200)
	if _, err := rand.Read(junk); err != nil {
		t.Fatal(err)
	}
	// A first byte without the top bit set is never an OpenPGP packet tag.
	junk[0] = 0x17
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	return junk
}

func TestListReportsUnreadableCert(t *testing.T) {
	k := openTemp(t)
	alice := generate(t, "Alice", "alice@example.org", GenerateOptions{})
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	importBytes(t, k, append(publicBytes(t, alice), publicBytes(t, bob)...))
	bobPath := k.certPath(fingerprint(bob))
	corruptFile(t, bobPath)

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != 2 {
		t.Fatalf("List returned %d entries, want 2: %+v", len(entries), entries)
	}
	if entries[0].Fingerprint != fingerprint(alice) || entries[0].Status != StatusValid {
		t.Errorf("first entry = %+v, want alice's valid key", entries[0])
	}
	bad := entries[1]
	if bad.Status != StatusUnreadable {
		t.Errorf("status of the corrupt file = %q, want unreadable", bad.Status)
	}
	if bad.Path != bobPath {
		t.Errorf("Path = %q, want %q", bad.Path, bobPath)
	}
	if bad.Fingerprint != fingerprint(bob) {
		t.Errorf("Fingerprint = %q, want %q", bad.Fingerprint, fingerprint(bob))
	}
	if !strings.Contains(bad.Problem, "not an OpenPGP key") {
		t.Errorf("Problem = %q, want it to say the file is not a key", bad.Problem)
	}

	if _, err := k.EncryptionKey(context.Background(), "alice@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey for the readable key: %v", err)
	}
	_, err = k.EncryptionKey(context.Background(), "bob@example.org", time.Now())
	lookup := lookupError(t, err)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not wrap ErrNotFound", err)
	}
	if len(lookup.Unreadable) != 1 || lookup.Unreadable[0] != bobPath {
		t.Errorf("Unreadable = %q, want [%q]", lookup.Unreadable, bobPath)
	}
	for _, want := range []string{"1 stored file could not be read", bobPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	carol := generate(t, "Carol", "carol@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, carol))
	if _, err := k.EncryptionKey(context.Background(), "carol@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey after importing another key: %v", err)
	}
}

// keptCopies returns the paths of the copies of corrupt files that Import
// kept for the key fpr, of kind "certificate" or "secret", oldest first.
func keptCopies(t *testing.T, k *Keyring, fpr, kind string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(k.dir, corruptDirName, fpr+"."+kind+".*"))
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the same second has ".N" added, so a shorter name is older.
	sort.Slice(paths, func(i, j int) bool {
		if len(paths[i]) != len(paths[j]) {
			return len(paths[i]) < len(paths[j])
		}
		return paths[i] < paths[j]
	})
	return paths
}

func TestImportReplacesUnreadableCert(t *testing.T) {
	k := openTemp(t)
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, bob))
	path := k.certPath(fingerprint(bob))
	junk := corruptFile(t, path)

	imported := importBytes(t, k, publicBytes(t, bob))
	if len(imported) != 1 {
		t.Fatalf("Import = %+v, want one key", imported)
	}
	copies := keptCopies(t, k, fingerprint(bob), "certificate")
	if len(copies) != 1 {
		t.Fatalf("kept copies = %q, want one in %q", copies, filepath.Join(k.dir, corruptDirName))
	}
	for _, want := range []string{path, copies[0], "could not be read"} {
		if !strings.Contains(imported[0].Warning, want) {
			t.Errorf("Warning %q does not contain %q", imported[0].Warning, want)
		}
	}
	kept, err := os.ReadFile(copies[0])
	if err != nil {
		t.Fatalf("the unreadable bytes were not kept: %v", err)
	}
	if !bytes.Equal(kept, junk) {
		t.Error("the kept copy differs from the unreadable file")
	}
	checkMode(t, copies[0], 0o600)
	checkMode(t, filepath.Join(k.dir, corruptDirName), 0o700)

	// Every file in the certificate directory must be a certificate, as
	// other cert-d tools read them all.
	files, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Errorf("the prefix folder holds %d files, want only the certificate: %v", len(files), files)
	}

	if _, err := k.EncryptionKey(context.Background(), "bob@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey after the import: %v", err)
	}
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Status != StatusValid {
		t.Errorf("List = %+v, want one valid key and no unreadable file", entries)
	}

	// A second corruption keeps its bytes under a new name.
	corruptFile(t, path)
	importBytes(t, k, publicBytes(t, bob))
	copies = keptCopies(t, k, fingerprint(bob), "certificate")
	if len(copies) != 2 {
		t.Errorf("kept copies = %q, want two", copies)
	}
	if kept1, _ := os.ReadFile(copies[0]); !bytes.Equal(kept1, junk) {
		t.Error("the first copy was overwritten")
	}
}

func TestUnreadableSecretKey(t *testing.T) {
	k := openTemp(t)
	own := generate(t, "Own", "own@example.org", GenerateOptions{})
	secret := secretBytes(t, own)
	importBytes(t, k, secret)
	path := k.secretPath(fingerprint(own))
	corruptFile(t, path)

	_, err := k.SigningKey(context.Background(), "own@example.org", time.Now())
	lookup := lookupError(t, err)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not wrap ErrNotFound", err)
	}
	if len(lookup.Unreadable) != 1 || lookup.Unreadable[0] != path {
		t.Errorf("Unreadable = %q, want [%q]", lookup.Unreadable, path)
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != 2 {
		t.Fatalf("List returned %d entries, want the certificate and the unreadable secret key file: %+v", len(entries), entries)
	}
	if entries[0].Status != StatusValid || entries[0].Secret {
		t.Errorf("certificate entry = %+v, want valid without a readable secret key", entries[0])
	}
	if entries[1].Status != StatusUnreadable || entries[1].Path != path || !entries[1].Secret {
		t.Errorf("secret key entry = %+v, want an unreadable secret key file at %q", entries[1], path)
	}

	imported := importBytes(t, k, secret)
	copies := keptCopies(t, k, fingerprint(own), "secret")
	if len(copies) != 1 {
		t.Fatalf("kept copies = %q, want one", copies)
	}
	if !strings.Contains(imported[0].Warning, copies[0]) {
		t.Errorf("Warning %q does not name the kept copy %q", imported[0].Warning, copies[0])
	}
	checkMode(t, copies[0], 0o600)
	if _, err := k.SigningKey(context.Background(), "own@example.org", time.Now()); err != nil {
		t.Errorf("SigningKey after importing the secret key again: %v", err)
	}
}

func TestSigningKeySkipsUnreadableCert(t *testing.T) {
	k := openTemp(t)
	own := generate(t, "Own", "own@example.org", GenerateOptions{})
	importBytes(t, k, secretBytes(t, own))
	path := k.certPath(fingerprint(own))
	corruptFile(t, path)

	// The certificate may hold a revocation, so the secret key is not used.
	_, err := k.SigningKey(context.Background(), "own@example.org", time.Now())
	lookup := lookupError(t, err)
	if len(lookup.Unreadable) != 1 || lookup.Unreadable[0] != path {
		t.Errorf("Unreadable = %q, want [%q] (%v)", lookup.Unreadable, path, err)
	}
}

func TestReadersIgnoreJunkNames(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Kim", "kim@example.org", GenerateOptions{})
	importBytes(t, k, secretBytes(t, e))
	fpr := fingerprint(e)

	junk := []string{
		filepath.Join(dir, "pgp.cert.d", fpr[:2], "not-a-fingerprint"),
		filepath.Join(dir, "pgp.cert.d", fpr[:2], fpr[2:]+".corrupt"),
		filepath.Join(dir, "pgp.cert.d", fpr[:2], strings.ToUpper(fpr[2:])),
		filepath.Join(dir, "pgp.cert.d", "_sealmail"),
		filepath.Join(dir, "pgp.cert.d", "trust-root"),
		filepath.Join(dir, "secret", "notes.txt"),
		filepath.Join(dir, "secret", fpr+".corrupt"),
		filepath.Join(dir, "secret", strings.ToUpper(fpr)),
	}
	for _, path := range junk {
		if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != 1 || entries[0].Status != StatusValid || !entries[0].Secret {
		t.Errorf("List = %+v, want only the valid secret key", entries)
	}
	if _, err := k.SigningKey(context.Background(), "kim@example.org", time.Now()); err != nil {
		t.Errorf("SigningKey: %v", err)
	}
	importBytes(t, k, publicBytes(t, e))
}

// Removing a key with its secret key also deletes the copies of its
// unreadable secret key file that Import kept, because they may contain
// secret key material. The kept copies of the certificate stay.
func TestRemoveDeletesKeptSecretCopies(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	own := generate(t, "Own", "own@example.org", GenerateOptions{})
	secret := secretBytes(t, own)
	importBytes(t, k, secret)
	fpr := fingerprint(own)
	corruptFile(t, k.secretPath(fpr))
	importBytes(t, k, secret)
	corruptFile(t, k.certPath(fpr))
	importBytes(t, k, secret)
	if len(keptCopies(t, k, fpr, "secret")) != 1 || len(keptCopies(t, k, fpr, "certificate")) != 1 {
		t.Fatalf("kept copies: secret %q, certificate %q, want one of each",
			keptCopies(t, k, fpr, "secret"), keptCopies(t, k, fpr, "certificate"))
	}

	if _, err := k.RemoveKey(ctx, fpr, RemoveOptions{}); !errors.Is(err, ErrSecretKeyStored) {
		t.Fatalf("RemoveKey without Secret: %v, want ErrSecretKeyStored", err)
	}
	if copies := keptCopies(t, k, fpr, "secret"); len(copies) != 1 {
		t.Errorf("RemoveKey without Secret deleted the kept copies of the secret key: %q left", copies)
	}
	if _, err := k.RemoveKey(ctx, fpr, RemoveOptions{Secret: true}); err != nil {
		t.Fatalf("RemoveKey: %v", err)
	}
	if copies := keptCopies(t, k, fpr, "secret"); len(copies) != 0 {
		t.Errorf("kept copies of the secret key after RemoveKey: %q", copies)
	}
	if copies := keptCopies(t, k, fpr, "certificate"); len(copies) != 1 {
		t.Errorf("kept copies of the certificate after RemoveKey = %q, want one", copies)
	}
}
