package keyring

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// crowdedKey returns a key with two user IDs, a third-party certification,
// two self-signatures on its primary user ID, an older and a newer
// encryption subkey and a signing subkey, and the newest self-signature.
func crowdedKey(t *testing.T) (*openpgp.Entity, *packet.Signature) {
	t.Helper()
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(d time.Duration) *packet.Config {
		return &packet.Config{Time: func() time.Time { return created.Add(d) }}
	}
	e := generate(t, "Mia", "mia@example.org", GenerateOptions{Now: created})
	if err := e.AddUserId("Mia Work", "", "mia@work.example", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddEncryptionSubkey(at(2 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddSigningSubkey(at(3 * time.Minute)); err != nil {
		t.Fatal(err)
	}

	friend := generate(t, "Friend", "friend@example.org", GenerateOptions{Now: created})
	primary := e.Identities["Mia <mia@example.org>"]
	if err := primary.SignIdentity(friend, at(4*time.Minute)); err != nil {
		t.Fatal(err)
	}

	old := primary.SelfCertifications[0].Packet
	newer := &packet.Signature{
		Version:            old.Version,
		SigType:            packet.SigTypePositiveCert,
		PubKeyAlgo:         old.PubKeyAlgo,
		Hash:               crypto.SHA256,
		CreationTime:       created.Add(5 * time.Minute),
		IssuerKeyId:        &e.PrimaryKey.KeyId,
		IssuerFingerprint:  e.PrimaryKey.Fingerprint,
		FlagsValid:         true,
		FlagSign:           true,
		FlagCertify:        true,
		PreferredSymmetric: []uint8{uint8(packet.CipherAES256)},
		PreferredHash:      []uint8{8},
		SEIPDv1:            true,
	}
	if err := newer.SignUserId(primary.Name, e.PrimaryKey, e.PrivateKey, at(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	primary.SelfCertifications = append(primary.SelfCertifications, packet.NewVerifiableSig(newer))
	return e, newer
}

// checkMinimalPackets checks that data holds exactly the primary key, the
// user ID uid with one self-signature, and the subkey with one binding.
func checkMinimalPackets(t *testing.T, data []byte, e *openpgp.Entity, uid string, subkey *packet.PublicKey) []packet.Packet {
	t.Helper()
	list := packetsOf(t, data)
	if len(list) != 5 {
		t.Fatalf("export has %d packets, want 5: %v", len(list), list)
	}
	if pk, ok := list[0].(*packet.PublicKey); !ok || pk.IsSubkey || !bytes.Equal(pk.Fingerprint, e.PrimaryKey.Fingerprint) {
		t.Errorf("packet 1 is %T, want the primary key", list[0])
	}
	if id, ok := list[1].(*packet.UserId); !ok || id.Id != uid {
		t.Errorf("packet 2 is %#v, want user ID %q", list[1], uid)
	}
	if sig, ok := list[2].(*packet.Signature); !ok || sig.SigType != packet.SigTypePositiveCert || !bytes.Equal(sig.IssuerFingerprint, e.PrimaryKey.Fingerprint) {
		t.Errorf("packet 3 is %#v, want a self-signature", list[2])
	}
	if pk, ok := list[3].(*packet.PublicKey); !ok || !pk.IsSubkey || !bytes.Equal(pk.Fingerprint, subkey.Fingerprint) {
		t.Errorf("packet 4 is %T, want subkey %X", list[3], subkey.Fingerprint)
	}
	if sig, ok := list[4].(*packet.Signature); !ok || sig.SigType != packet.SigTypeSubkeyBinding {
		t.Errorf("packet 5 is %#v, want a subkey binding signature", list[4])
	}
	return list
}

func TestExportMinimalPrimaryUserID(t *testing.T) {
	k := openTemp(t)
	e, newest := crowdedKey(t)
	importBytes(t, k, publicBytes(t, e))
	newestSubkey := e.Subkeys[1].PublicKey

	data, err := k.ExportMinimal(context.Background(), fingerprint(e), "")
	if err != nil {
		t.Fatalf("ExportMinimal: %v", err)
	}
	list := checkMinimalPackets(t, data, e, "Mia <mia@example.org>", newestSubkey)
	if sig := list[2].(*packet.Signature); !sig.CreationTime.Equal(newest.CreationTime) {
		t.Errorf("self-signature made at %v, want the newest, made at %v", sig.CreationTime, newest.CreationTime)
	}

	// The export is self-contained: a reader encrypts to the newest subkey.
	minimal, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := minimal.EncryptionKeyWithError(time.Now(), nil)
	if err != nil {
		t.Fatalf("minimal export has no encryption key: %v", err)
	}
	if key.PublicKey.KeyId != newestSubkey.KeyId {
		t.Errorf("encryption key = %X, want the newest subkey %X", key.PublicKey.KeyId, newestSubkey.KeyId)
	}
}

func TestExportMinimalByAddress(t *testing.T) {
	k := openTemp(t)
	e, _ := crowdedKey(t)
	importBytes(t, k, publicBytes(t, e))

	data, err := k.ExportMinimal(context.Background(), fingerprint(e), "MIA@Work.example")
	if err != nil {
		t.Fatalf("ExportMinimal: %v", err)
	}
	checkMinimalPackets(t, data, e, "Mia Work <mia@work.example>", e.Subkeys[1].PublicKey)
}

func TestExportMinimalV6KeepsDirectKeySignature(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "", "six@example.org", GenerateOptions{V6: true, Lifetime: 24 * time.Hour})
	importBytes(t, k, publicBytes(t, e))

	data, err := k.ExportMinimal(context.Background(), fingerprint(e), "")
	if err != nil {
		t.Fatalf("ExportMinimal: %v", err)
	}
	list := packetsOf(t, data)
	if len(list) != 6 {
		t.Fatalf("export has %d packets, want 6", len(list))
	}
	if sig, ok := list[1].(*packet.Signature); !ok || sig.SigType != packet.SigTypeDirectSignature {
		t.Errorf("packet 2 is %T, want the direct-key signature", list[1])
	}
	minimal, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	if expiry := keyExpiry(minimal); expiry == nil || !expiry.Equal(*keyExpiry(e)) {
		t.Errorf("minimal export expires at %v, want %v", expiry, keyExpiry(e))
	}
}

func TestExportMinimalRejects(t *testing.T) {
	k := openTemp(t)
	e, _ := crowdedKey(t)
	importBytes(t, k, publicBytes(t, e))
	expired := generate(t, "Old", "old@example.org", GenerateOptions{Now: time.Now().Add(-72 * time.Hour), Lifetime: time.Hour})
	importBytes(t, k, publicBytes(t, expired))
	certificate, _ := selfSignedCertificate(t)
	if _, err := k.Import(context.Background(), bytes.NewReader(certificate)); err != nil {
		t.Fatal(err)
	}
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var x509Fingerprint string
	for _, entry := range entries {
		if entry.Kind == KindX509 {
			x509Fingerprint = entry.Fingerprint
		}
	}

	tests := []struct {
		name, fingerprint, address, want string
	}{
		{"other address", fingerprint(e), "nobody@example.org", `no user ID for "nobody@example.org"`},
		{"expired key", fingerprint(expired), "", "expired"},
		{"X.509 certificate", x509Fingerprint, "", "for OpenPGP keys only"},
		{"unknown key", strings.Repeat("ab", 20), "", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.ExportMinimal(context.Background(), tt.fingerprint, tt.address)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ExportMinimal error = %v, want one that says %q", err, tt.want)
			}
		})
	}
	if _, err := k.ExportMinimal(context.Background(), strings.Repeat("ab", 20), ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("error for an unknown key = %v, want ErrNotFound", err)
	}
}
