package keyring

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func FuzzImport(f *testing.F) {
	e, err := Generate("Fuzz", "fuzz@example.org", GenerateOptions{Now: time.Unix(1700000000, 0)})
	if err != nil {
		f.Fatal(err)
	}
	var public, secret bytes.Buffer
	if err := e.Serialize(&public); err != nil {
		f.Fatal(err)
	}
	if err := e.SerializePrivate(&secret, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(public.Bytes())
	f.Add(secret.Bytes())
	f.Add(public.Bytes()[:public.Len()/2])
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"))
	for _, seed := range x509Seeds(f) {
		f.Add(seed)
	}

	k, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := k.Import(context.Background(), bytes.NewReader(data)); err != nil {
			return
		}
		// Whatever was stored must read back and serve lookups.
		if _, err := k.List(context.Background(), time.Now()); err != nil {
			t.Fatalf("List after a successful import: %v", err)
		}
		if _, err := k.EncryptionKey(context.Background(), "fuzz@example.org", time.Now()); err != nil {
			if _, ok := err.(*LookupError); !ok {
				t.Fatalf("EncryptionKey after a successful import: %v", err)
			}
		}
	})
}
