package wkd_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/keyring/wkd"
)

// importFetched looks up testAddress in d and imports the key as "keyring
// fetch" does.
func importFetched(t *testing.T, d *directory, kr *keyring.Keyring) ([]keyring.Imported, error) {
	t.Helper()
	result, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	return kr.ImportWithOptions(context.Background(), bytes.NewReader(result.Key), keyring.ImportOptions{
		Origin:     keyring.OriginWKD,
		Source:     result.URL,
		Address:    testAddress,
		PublicOnly: true,
	})
}

func openKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// serialize returns the binary certificate of e, or its secret key when
// secret is set.
func serialize(t *testing.T, e *openpgp.Entity, secret bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if secret {
		err = e.SerializePrivateWithoutSigning(&buf, nil)
	} else {
		err = e.Serialize(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportFetchedKeepsMatchingUserID(t *testing.T) {
	e, err := keyring.Generate("Bob", testAddress, keyring.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddUserId("Bob at work", "", "bob@work.example", &packet.Config{}); err != nil {
		t.Fatal(err)
	}
	d := newDirectory(t)
	d.publish(t, d.advanced, serialize(t, e, false))
	kr := openKeyring(t)

	imported, err := importFetched(t, d, kr)
	if err != nil {
		t.Fatal(err)
	}
	if len(imported) != 1 {
		t.Fatalf("imported %d keys, want 1", len(imported))
	}
	want := []string{"Bob <" + testAddress + ">"}
	if !slices.Equal(imported[0].UserIDs, want) {
		t.Errorf("stored user IDs = %q, want %q", imported[0].UserIDs, want)
	}

	entries, err := kr.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the keyring has %d keys, want 1", len(entries))
	}
	if !slices.Equal(entries[0].UserIDs, want) {
		t.Errorf("listed user IDs = %q, want %q", entries[0].UserIDs, want)
	}
	if entries[0].Origin != keyring.OriginWKD {
		t.Errorf("origin = %q, want %q", entries[0].Origin, keyring.OriginWKD)
	}
	if entries[0].Source != d.advanced {
		t.Errorf("source = %q, want %q", entries[0].Source, d.advanced)
	}
	if _, err := kr.Find(context.Background(), "bob@work.example", time.Now()); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("Find of the other address = %v, want ErrNotFound", err)
	}
}

func TestImportFetchedWithoutMatchingUserID(t *testing.T) {
	e, err := keyring.Generate("Mallory", "mallory@example.org", keyring.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectory(t)
	d.publish(t, d.advanced, serialize(t, e, false))
	kr := openKeyring(t)

	_, err = importFetched(t, d, kr)
	if !errors.Is(err, keyring.ErrNoMatchingUserID) {
		t.Fatalf("error = %v, want ErrNoMatchingUserID", err)
	}
	assertEmpty(t, kr)
}

func TestImportFetchedSecretKey(t *testing.T) {
	e, err := keyring.Generate("Bob", testAddress, keyring.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectory(t)
	d.publish(t, d.advanced, serialize(t, e, true))
	kr := openKeyring(t)

	_, err = importFetched(t, d, kr)
	if !errors.Is(err, keyring.ErrSecretKey) {
		t.Fatalf("error = %v, want ErrSecretKey", err)
	}
	assertEmpty(t, kr)
}

func assertEmpty(t *testing.T, kr *keyring.Keyring) {
	t.Helper()
	entries, err := kr.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("the keyring has %d keys, want none", len(entries))
	}
}
