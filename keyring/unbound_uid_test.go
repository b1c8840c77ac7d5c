package keyring

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// withForeignUserID returns public, Mallory's public key, with a user ID for
// bob@example.org inserted after the primary key. The user ID carries a copy
// of Mallory's own self-signature, which does not bind it.
func withForeignUserID(t *testing.T, public []byte) []byte {
	t.Helper()
	var packets []*packet.OpaquePacket
	r := packet.NewOpaqueReader(bytes.NewReader(public))
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		packets = append(packets, p)
	}

	// The packets are the primary key, its user ID and the self-signature,
	// then the subkey and its binding signature.
	if len(packets) < 3 || packets[1].Tag != 13 || packets[2].Tag != 2 {
		t.Fatalf("unexpected key layout: %d packets", len(packets))
	}

	var out bytes.Buffer
	serialize := func(p *packet.OpaquePacket) {
		if err := p.Serialize(&out); err != nil {
			t.Fatal(err)
		}
	}
	serialize(packets[0])
	if err := packet.NewUserId("Bob", "", "bob@example.org").Serialize(&out); err != nil {
		t.Fatal(err)
	}
	serialize(packets[2])
	for _, p := range packets[1:] {
		serialize(p)
	}
	return out.Bytes()
}

func TestUnboundUserIDNotShown(t *testing.T) {
	mallory := generate(t, "Mallory", "mallory@example.org", GenerateOptions{})
	k := openTemp(t)
	imported := importBytes(t, k, withForeignUserID(t, publicBytes(t, mallory)))
	if len(imported) != 1 {
		t.Fatalf("imported %d keys, want 1", len(imported))
	}
	want := []string{"Mallory <mallory@example.org>"}
	if !slices.Equal(imported[0].UserIDs, want) {
		t.Errorf("Imported.UserIDs = %q, want %q", imported[0].UserIDs, want)
	}

	entries, err := k.Find(context.Background(), fingerprint(mallory), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(entries[0].UserIDs, want) {
		t.Errorf("Entry.UserIDs = %q, want %q", entries[0].UserIDs, want)
	}
	if _, err := k.EncryptionKey(context.Background(), "bob@example.org", time.Now()); err == nil {
		t.Error("EncryptionKey found a key for the unbound user ID")
	}
}
