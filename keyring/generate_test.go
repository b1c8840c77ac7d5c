package keyring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestGenerateSecretKeyStoresProtectedKey(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	imported, e, err := k.GenerateSecretKey(ctx, "Nora", "nora@example.org", []byte("pass phrase"), SecretKeyOptions{})
	if err != nil {
		t.Fatalf("GenerateSecretKey: %v", err)
	}
	if !imported.Secret || imported.Fingerprint != fingerprint(e) {
		t.Errorf("Imported = %+v, want the secret key %s", imported, fingerprint(e))
	}
	if Locked(e) {
		t.Error("the returned key is locked, want it unlocked for the caller")
	}

	checkMode(t, filepath.Join(dir, "secret"), 0o700)
	checkMode(t, filepath.Join(dir, "secret", fingerprint(e)), 0o600)

	signer, err := k.SigningKey(ctx, "nora@example.org", time.Now())
	if err != nil {
		t.Fatalf("SigningKey: %v", err)
	}
	if !Locked(signer) {
		t.Fatal("the stored secret key is not encrypted")
	}
	for _, subkey := range signer.Subkeys {
		if subkey.PrivateKey == nil || !subkey.PrivateKey.Encrypted {
			t.Errorf("subkey %X is not encrypted", subkey.PublicKey.KeyId)
		}
	}
	if err := Unlock(signer, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Unlock with a wrong passphrase = %v, want ErrWrongPassphrase", err)
	}
	if err := Unlock(signer, []byte("pass phrase")); err != nil {
		t.Errorf("Unlock: %v", err)
	}

	p, err := k.Provenance(ctx, fingerprint(e))
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != OriginGenerated || p.Confirmed == nil {
		t.Errorf("provenance = %+v, want generated and confirmed", p)
	}
}

func TestGenerateSecretKeyRejectsSecondKey(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	first := time.Now().Add(-time.Minute)
	opts := SecretKeyOptions{GenerateOptions: GenerateOptions{Now: first}}
	_, e, err := k.GenerateSecretKey(ctx, "", "olaf@example.org", []byte("x"), opts)
	if err != nil {
		t.Fatal(err)
	}

	_, _, err = k.GenerateSecretKey(ctx, "", "OLAF@example.org", []byte("x"), SecretKeyOptions{})
	if !errors.Is(err, ErrSecretKeyExists) || !strings.Contains(err.Error(), strings.ToUpper(fingerprint(e))) {
		t.Fatalf("second key error = %v, want ErrSecretKeyExists naming %s", err, fingerprint(e))
	}
	entries, err := k.List(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the keyring has %d keys after the rejected generation, want 1", len(entries))
	}

	_, second, err := k.GenerateSecretKey(ctx, "", "olaf@example.org", []byte("x"), SecretKeyOptions{AllowExisting: true})
	if err != nil {
		t.Fatalf("GenerateSecretKey with AllowExisting: %v", err)
	}
	signer, err := k.SigningKey(ctx, "olaf@example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fingerprint(signer) != fingerprint(second) {
		t.Errorf("SigningKey = %s, want the newer key %s", fingerprint(signer), fingerprint(second))
	}
}

func TestGenerateSecretKeyRejectsEmptyPassphrase(t *testing.T) {
	k := openTemp(t)
	_, _, err := k.GenerateSecretKey(context.Background(), "", "pia@example.org", nil, SecretKeyOptions{})
	if !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("error = %v, want ErrEmptyPassphrase", err)
	}
}

func TestGenerateV6(t *testing.T) {
	e := generate(t, "Six", "six@example.org", GenerateOptions{V6: true, Lifetime: 48 * time.Hour})
	if e.PrimaryKey.Version != 6 {
		t.Errorf("key version = %d, want 6", e.PrimaryKey.Version)
	}
	if e.PrimaryKey.PubKeyAlgo != packet.PubKeyAlgoEd25519 {
		t.Errorf("primary algorithm = %d, want Ed25519 (27)", e.PrimaryKey.PubKeyAlgo)
	}
	if len(e.Subkeys) != 1 || e.Subkeys[0].PublicKey.PubKeyAlgo != packet.PubKeyAlgoX25519 {
		t.Fatalf("subkeys = %d, want one X25519 subkey", len(e.Subkeys))
	}
	if len(e.DirectSignatures) != 1 {
		t.Errorf("direct-key signatures = %d, want 1", len(e.DirectSignatures))
	}
	sig, err := e.PrimarySelfSignature(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sig.SEIPDv2 || !sig.SEIPDv1 {
		t.Errorf("features SEIPDv1 = %v, SEIPDv2 = %v, want both", sig.SEIPDv1, sig.SEIPDv2)
	}
	if status, err := encryptionStatus(e, time.Now()); status != StatusValid {
		t.Errorf("encryption status = %s (%v), want valid", status, err)
	}
	if expiry := keyExpiry(e); expiry == nil || !expiry.Equal(e.PrimaryKey.CreationTime.Add(48*time.Hour)) {
		t.Errorf("expiry = %v, want 48 hours after creation", expiry)
	}
	if _, err := Generate("", "six@example.org", GenerateOptions{V6: true, RSABits: 2048}); err == nil {
		t.Error("Generate made a v6 RSA-2048 key")
	}
}

// secretKeyProtection returns the S2K usage octet, cipher, AEAD mode and
// S2K type of the first secret key packet of a v6 transferable secret key,
// laid out as RFC 9580 defines the v6 secret key packet.
func secretKeyProtection(t *testing.T, data []byte) (usage, cipher, aead, s2kType byte) {
	t.Helper()
	if data[0] != 0xc5 {
		t.Fatalf("first packet has tag byte %#x, want a new-format secret key packet", data[0])
	}
	body := data[2:]
	switch {
	case data[1] >= 192 && data[1] < 224:
		body = data[3:]
	case data[1] == 255:
		body = data[6:]
	}
	// version, creation time, algorithm, then a four-octet length of the
	// public key material.
	if body[0] != 6 {
		t.Fatalf("secret key packet version %d, want 6", body[0])
	}
	length := int(body[6])<<24 | int(body[7])<<16 | int(body[8])<<8 | int(body[9])
	rest := body[10+length:]
	// usage, a count of the following octets, cipher, AEAD mode, S2K
	// specifier length, S2K specifier.
	return rest[0], rest[2], rest[3], rest[5]
}

func TestGenerateSecretKeyV6UsesArgon2(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := SecretKeyOptions{GenerateOptions: GenerateOptions{V6: true}}
	_, e, err := k.GenerateSecretKey(ctx, "", "sixten@example.org", []byte("pass phrase"), opts)
	if err != nil {
		t.Fatalf("GenerateSecretKey: %v", err)
	}

	data, err := os.ReadFile(filepath.Join(dir, "secret", fingerprint(e)))
	if err != nil {
		t.Fatal(err)
	}
	usage, cipher, aead, s2kType := secretKeyProtection(t, data)
	if usage != 253 || cipher != byte(packet.CipherAES256) || aead != byte(packet.AEADModeOCB) || s2kType != 4 {
		t.Errorf("protection = usage %d, cipher %d, AEAD %d, S2K %d; want usage 253 (AEAD), AES-256 (9), OCB (2), Argon2 (4)",
			usage, cipher, aead, s2kType)
	}

	signer, err := k.SigningKey(ctx, "sixten@example.org", time.Now())
	if err != nil {
		t.Fatalf("SigningKey: %v", err)
	}
	if err := Unlock(signer, []byte("pass phrase")); err != nil {
		t.Errorf("Unlock: %v", err)
	}
}

func TestGenerateSecretKeyConcurrent(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	const runs = 4
	errs := make(chan error, runs)
	for range runs {
		go func() {
			_, _, err := k.GenerateSecretKey(ctx, "Ada", "ada@example.org", []byte("pass"), SecretKeyOptions{})
			errs <- err
		}()
	}
	stored := 0
	for range runs {
		err := <-errs
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, ErrSecretKeyExists):
			t.Errorf("GenerateSecretKey: %v, want nil or ErrSecretKeyExists", err)
		}
	}
	if stored != 1 {
		t.Errorf("%d runs stored a key, want 1", stored)
	}
}
