package keyring

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// replaceEncryptionSubkey drops the subkeys of e and adds an encryption
// subkey made at created that expires after lifetime.
func replaceEncryptionSubkey(t *testing.T, e *openpgp.Entity, created time.Time, lifetime time.Duration) {
	t.Helper()
	e.Subkeys = nil
	config := &packet.Config{
		Algorithm:       packet.PubKeyAlgoEdDSA,
		Curve:           packet.Curve25519,
		Time:            func() time.Time { return created },
		KeyLifetimeSecs: uint32(lifetime / time.Second),
	}
	if err := e.AddEncryptionSubkey(config); err != nil {
		t.Fatalf("AddEncryptionSubkey: %v", err)
	}
}

// listOne returns the only entry that List returns at now.
func listOne(t *testing.T, k *Keyring, now time.Time) Entry {
	t.Helper()
	entries, err := k.List(context.Background(), now)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != 1 {
		t.Fatalf("List returned %d entries, want 1: %+v", len(entries), entries)
	}
	return entries[0]
}

func TestListSubkeyExpiresBeforePrimary(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	created := now.Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Rita", "rita@example.org", GenerateOptions{Now: created, Lifetime: 2 * 365 * 24 * time.Hour})
	replaceEncryptionSubkey(t, e, created, 5*24*time.Hour)
	importBytes(t, k, publicBytes(t, e))
	primaryExpiry := created.Add(2 * 365 * 24 * time.Hour)
	subkeyExpiry := created.Add(5 * 24 * time.Hour)

	entry := listOne(t, k, now)
	if entry.Status != StatusValid {
		t.Fatalf("Status = %q, want valid", entry.Status)
	}
	if entry.Expires == nil || !entry.Expires.Equal(primaryExpiry) {
		t.Errorf("Expires = %v, want the primary key's %v", entry.Expires, primaryExpiry)
	}
	if entry.EncryptionSubkeyExpires == nil || !entry.EncryptionSubkeyExpires.Equal(subkeyExpiry) {
		t.Errorf("EncryptionSubkeyExpires = %v, want %v", entry.EncryptionSubkeyExpires, subkeyExpiry)
	}
	expiry, bySubkey := entry.EncryptionExpiry()
	if expiry == nil || !expiry.Equal(subkeyExpiry) || !bySubkey {
		t.Errorf("EncryptionExpiry = %v, %v; want %v of the subkey", expiry, bySubkey, subkeyExpiry)
	}
	if !entry.Expiring(now) {
		t.Error("Expiring = false for a key whose encryption subkey expires in 5 days")
	}

	if len(entry.Subkeys) != 1 {
		t.Fatalf("Subkeys = %+v, want 1 subkey", entry.Subkeys)
	}
	subkey := entry.Subkeys[0]
	if subkey.Fingerprint != hexFingerprint(e.Subkeys[0].PublicKey.Fingerprint) {
		t.Errorf("subkey Fingerprint = %q, want %x", subkey.Fingerprint, e.Subkeys[0].PublicKey.Fingerprint)
	}
	if subkey.Algorithm != "cv25519" {
		t.Errorf("subkey Algorithm = %q, want cv25519", subkey.Algorithm)
	}
	if len(subkey.Usage) != 1 || subkey.Usage[0] != "encrypt" {
		t.Errorf("subkey Usage = %q, want [encrypt]", subkey.Usage)
	}
	if !subkey.Created.Equal(created) {
		t.Errorf("subkey Created = %v, want %v", subkey.Created, created)
	}
	if subkey.Expires == nil || !subkey.Expires.Equal(subkeyExpiry) {
		t.Errorf("subkey Expires = %v, want %v", subkey.Expires, subkeyExpiry)
	}
	if subkey.Status != StatusValid {
		t.Errorf("subkey Status = %q, want valid", subkey.Status)
	}
	if !subkey.SelectedForEncryption {
		t.Error("SelectedForEncryption = false for the only encryption subkey")
	}

	// After the subkey expires, no key is usable for encryption, so there
	// is no encryption subkey expiry to report.
	later := now.Add(6 * 24 * time.Hour)
	entry = listOne(t, k, later)
	if entry.Status != StatusNoEncryption {
		t.Errorf("Status 6 days later = %q, want %q", entry.Status, StatusNoEncryption)
	}
	if entry.EncryptionSubkeyExpires != nil {
		t.Errorf("EncryptionSubkeyExpires 6 days later = %v, want nil", entry.EncryptionSubkeyExpires)
	}
	if entry.Expiring(later) {
		t.Error("Expiring = true for a key that is no longer valid")
	}
	if entry.Subkeys[0].Status != StatusExpired || entry.Subkeys[0].SelectedForEncryption {
		t.Errorf("subkey 6 days later = %+v, want expired and not selected", entry.Subkeys[0])
	}
}

func TestListPrimaryExpiresBeforeSubkey(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	created := now.Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Sam", "sam@example.org", GenerateOptions{Now: created, Lifetime: 10 * 24 * time.Hour})
	replaceEncryptionSubkey(t, e, created, 20*24*time.Hour)
	importBytes(t, k, publicBytes(t, e))

	entry := listOne(t, k, now)
	expiry, bySubkey := entry.EncryptionExpiry()
	if expiry == nil || !expiry.Equal(created.Add(10*24*time.Hour)) || bySubkey {
		t.Errorf("EncryptionExpiry = %v, %v; want the primary key's expiry", expiry, bySubkey)
	}
}

func TestListSubkeyWithoutExpiry(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Tom", "tom@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))

	entry := listOne(t, k, time.Now())
	if entry.Expires != nil || entry.EncryptionSubkeyExpires != nil {
		t.Errorf("Expires = %v, EncryptionSubkeyExpires = %v, want both nil", entry.Expires, entry.EncryptionSubkeyExpires)
	}
	if expiry, _ := entry.EncryptionExpiry(); expiry != nil {
		t.Errorf("EncryptionExpiry = %v, want nil", expiry)
	}
	if len(entry.Subkeys) != 1 || entry.Subkeys[0].Expires != nil {
		t.Errorf("Subkeys = %+v, want 1 subkey without expiry", entry.Subkeys)
	}
}

func TestListSubkeyStatuses(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	created := now.Add(-48 * time.Hour).Truncate(time.Second)
	e := generate(t, "Uma", "uma@example.org", GenerateOptions{Now: created})
	configAt := func(offset, lifetime time.Duration) *packet.Config {
		return &packet.Config{
			Algorithm:       packet.PubKeyAlgoEdDSA,
			Curve:           packet.Curve25519,
			Time:            func() time.Time { return created.Add(offset) },
			KeyLifetimeSecs: uint32(lifetime / time.Second),
		}
	}
	// Subkeys, in order: the generated encryption subkey, a revoked one, a
	// signing subkey, one that expired a day ago, and the newest valid one,
	// which go-crypto selects.
	if err := e.AddEncryptionSubkey(configAt(time.Minute, 0)); err != nil {
		t.Fatal(err)
	}
	if err := e.Subkeys[1].Revoke(packet.KeyCompromised, "", configAt(2*time.Minute, 0)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddSigningSubkey(configAt(3*time.Minute, 0)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddEncryptionSubkey(configAt(4*time.Minute, 24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddEncryptionSubkey(configAt(5*time.Minute, 0)); err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, publicBytes(t, e))

	entry := listOne(t, k, now)
	want := []struct {
		status   Status
		usage    string
		selected bool
	}{
		{StatusValid, "encrypt", false},
		{StatusRevoked, "encrypt", false},
		{StatusValid, "sign", false},
		{StatusExpired, "encrypt", false},
		{StatusValid, "encrypt", true},
	}
	if len(entry.Subkeys) != len(want) {
		t.Fatalf("Subkeys = %+v, want %d", entry.Subkeys, len(want))
	}
	for i, w := range want {
		got := entry.Subkeys[i]
		if got.Fingerprint != hexFingerprint(e.Subkeys[i].PublicKey.Fingerprint) {
			t.Errorf("subkey %d: Fingerprint = %q, want the certificate's subkey %d", i, got.Fingerprint, i)
		}
		if got.Status != w.status {
			t.Errorf("subkey %d: Status = %q, want %q", i, got.Status, w.status)
		}
		if len(got.Usage) != 1 || got.Usage[0] != w.usage {
			t.Errorf("subkey %d: Usage = %q, want [%s]", i, got.Usage, w.usage)
		}
		if got.SelectedForEncryption != w.selected {
			t.Errorf("subkey %d: SelectedForEncryption = %v, want %v", i, got.SelectedForEncryption, w.selected)
		}
	}
	if expiry := entry.Subkeys[3].Expires; expiry == nil || !expiry.Equal(created.Add(4*time.Minute+24*time.Hour)) {
		t.Errorf("expired subkey: Expires = %v, want a day after its creation", expiry)
	}
	if entry.EncryptionSubkeyExpires != nil {
		t.Errorf("EncryptionSubkeyExpires = %v, want nil for the selected subkey without expiry", entry.EncryptionSubkeyExpires)
	}
}

// TestListSubkeyBindingSignatureExpired checks a subkey whose key has no
// lifetime but whose binding signature expired: go-crypto rejects it, and
// List must report it as expired, not as invalid.
func TestListSubkeyBindingSignatureExpired(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	created := now.Add(-48 * time.Hour).Truncate(time.Second)
	e := generate(t, "Vera", "vera@example.org", GenerateOptions{Now: created})
	binding := e.Subkeys[0].Bindings[0].Packet
	lifetime := uint32(24 * 60 * 60)
	binding.SigLifetimeSecs = &lifetime
	config := &packet.Config{Time: func() time.Time { return created }}
	if err := e.Subkeys[0].ReSign(config); err != nil {
		t.Fatalf("ReSign: %v", err)
	}
	importBytes(t, k, publicBytes(t, e))

	entry := listOne(t, k, now)
	if entry.Status != StatusNoEncryption {
		t.Errorf("Status = %q, want %q", entry.Status, StatusNoEncryption)
	}
	subkey := entry.Subkeys[0]
	if subkey.Status != StatusExpired {
		t.Errorf("subkey Status = %q, want expired", subkey.Status)
	}
	if subkey.Expires == nil || !subkey.Expires.Equal(created.Add(24*time.Hour)) {
		t.Errorf("subkey Expires = %v, want the end of the signature lifetime %v", subkey.Expires, created.Add(24*time.Hour))
	}
}

func TestFindReportsSubkeys(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	created := now.Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Walt", "walt@example.org", GenerateOptions{Now: created})
	replaceEncryptionSubkey(t, e, created, 3*24*time.Hour)
	importBytes(t, k, publicBytes(t, e))

	entries, err := k.Find(context.Background(), "walt@example.org", now)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if len(entries[0].Subkeys) != 1 {
		t.Fatalf("Subkeys = %+v, want 1", entries[0].Subkeys)
	}
	if entries[0].EncryptionSubkeyExpires == nil {
		t.Error("EncryptionSubkeyExpires = nil, want the subkey's expiry")
	}
	if !entries[0].Expiring(now) {
		t.Error("Expiring = false, want true")
	}
}

// TestEntryJSONHasEveryField checks that the document of "keyring list
// --json" has every field whether or not it is set, so that scripts need
// not test for a missing one.
func TestEntryJSONHasEveryField(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Xavier", "xavier@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	entry := listOne(t, k, time.Now())

	data, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"confirmed":                 "null",
		"expires":                   "null",
		"encryption_subkey_expires": "null",
		"source":                    `""`,
		"confirmed_addresses":       "[]",
	} {
		if got, ok := fields[name]; !ok || string(got) != want {
			t.Errorf("field %q = %s (present: %v), want %s", name, got, ok, want)
		}
	}
	for _, name := range []string{"kind", "fingerprint", "user_ids", "addresses", "algorithm", "created", "subkeys", "status", "secret", "origin"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("field %q is missing from %s", name, data)
		}
	}

	// A key stored before origins were recorded has the empty origin.
	data, err = json.Marshal(Entry{Kind: KindOpenPGP})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	if got, ok := fields["origin"]; !ok || string(got) != `""` {
		t.Errorf("origin of OriginUnknown = %s (present: %v), want \"\"", got, ok)
	}
}
