package keyring

import (
	"bytes"
	"testing"
	"time"
)

// FuzzKeyUnion merges arbitrary stored and imported bytes into a key, as
// files that another cert-d tool wrote may be. It must never panic, and a
// result must keep every packet of the key.
func FuzzKeyUnion(f *testing.F) {
	e, err := Generate("Fuzz", "fuzz@example.org", GenerateOptions{Now: time.Unix(1700000000, 0)})
	if err != nil {
		f.Fatal(err)
	}
	encoded, err := encodeEntity(e, false)
	if err != nil {
		f.Fatal(err)
	}
	secret, err := encodeEntity(e, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encoded, secret)
	f.Add(secret, encoded)
	f.Add(encoded[:len(encoded)/2], []byte{})
	f.Add(append(bytes.Clone(encoded), encoded...), secret[:10])

	base, err := splitComponents(encoded)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, stored, imported []byte) {
		data, _, err := keyUnion(encoded, stored, [][]byte{imported}, e.PrimaryKey, false)
		if err != nil {
			return
		}
		union, err := splitComponents(data)
		if err != nil {
			t.Fatalf("the union does not split into packets: %v", err)
		}
		have := make(map[string]bool)
		for _, c := range union {
			for _, p := range c.packets {
				have[p.identity()] = true
			}
		}
		for _, c := range base {
			for _, p := range c.packets {
				if !have[p.identity()] {
					t.Fatalf("the union lost a packet of tag %d", p.tag)
				}
			}
		}
	})
}
