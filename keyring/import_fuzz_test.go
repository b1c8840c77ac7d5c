package keyring

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// FuzzImportWithOptions imports arbitrary input with the options that
// sources of untrusted keys use, and checks that what was stored reads back
// and obeys the options.
func FuzzImportWithOptions(f *testing.F) {
	created := time.Unix(1700000000, 0)
	e, err := Generate("Fuzz", "fuzz@example.org", GenerateOptions{Now: created})
	if err != nil {
		f.Fatal(err)
	}
	var public, secret bytes.Buffer
	if err := e.Serialize(&public); err != nil {
		f.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(&secret, nil); err != nil {
		f.Fatal(err)
	}
	armoredPublic := armorSeed(f, openpgp.PublicKeyType, public.Bytes())
	config := &packet.Config{Time: func() time.Time { return created.Add(time.Hour) }}
	if err := e.Revoke(packet.KeyCompromised, "lost", config); err != nil {
		f.Fatal(err)
	}
	var revocation bytes.Buffer
	if err := e.Revocations[0].Packet.Serialize(&revocation); err != nil {
		f.Fatal(err)
	}

	seeds := [][]byte{
		public.Bytes(),
		secret.Bytes(),
		armoredPublic,
		armorSeed(f, openpgp.PrivateKeyType, secret.Bytes()),
		public.Bytes()[:public.Len()-5],
		armoredPublic[:len(armoredPublic)/2],
		append(bytes.Clone(public.Bytes()), revocation.Bytes()...),
		append(bytes.Clone(public.Bytes()), armorSeed(f, openpgp.PublicKeyType, revocation.Bytes())...),
		revocation.Bytes(),
		nil,
	}
	for _, seed := range seeds {
		f.Add(seed, false, "")
		f.Add(seed, true, "fuzz@example.org")
	}
	f.Add(public.Bytes(), false, "other@example.org")

	// One keyring for all inputs, because a new one costs several fsyncs;
	// the checks look only at what each import added.
	k, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, publicOnly bool, address string) {
		var before map[string]map[string]bool
		if address != "" {
			before = storedUserIDs(t, k)
		}
		opts := ImportOptions{PublicOnly: publicOnly, Address: address}
		imported, err := k.ImportWithOptions(context.Background(), bytes.NewReader(data), opts)
		if err != nil {
			return
		}

		entries, err := k.List(context.Background(), time.Now())
		if err != nil {
			t.Fatalf("List after a successful import: %v", err)
		}
		for _, entry := range entries {
			if entry.Status == StatusUnreadable {
				t.Errorf("List reports %s as unreadable after a successful import: %s", entry.Path, entry.Problem)
			}
		}
		for _, result := range imported {
			if publicOnly && result.Secret {
				t.Errorf("a secret key was stored for %s with PublicOnly", result.Fingerprint)
			}
		}
		if address == "" {
			return
		}

		want := normalizeAddress(address)
		for _, result := range imported {
			if result.Kind != KindOpenPGP {
				continue
			}
			cert, err := k.readCert(result.Fingerprint)
			if err != nil || cert == nil {
				t.Fatalf("imported key %s does not read back: %v", result.Fingerprint, err)
			}
			for name, identity := range cert.Identities {
				if !before[result.Fingerprint][name] && normalizeAddress(identityAddress(identity)) != want {
					t.Errorf("user ID %q was stored with Address %q", name, address)
				}
			}
		}
	})
}

// storedUserIDs returns the user IDs of every stored certificate, by
// fingerprint.
func storedUserIDs(t *testing.T, k *Keyring) map[string]map[string]bool {
	t.Helper()
	certs, _, err := k.readCerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]map[string]bool, len(certs))
	for _, cert := range certs {
		names := make(map[string]bool, len(cert.Identities))
		for name := range cert.Identities {
			names[name] = true
		}
		ids[hexFingerprint(cert.PrimaryKey.Fingerprint)] = names
	}
	return ids
}

// armorSeed returns data armored as blockType.
func armorSeed(f *testing.F, blockType string, data []byte) []byte {
	f.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}
