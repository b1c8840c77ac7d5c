package pgpmime

import (
	"bytes"
	"crypto"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// keyKind names a kind of test key and how go-crypto generates it.
type keyKind struct {
	name   string
	config packet.Config
	// gpg reports whether GnuPG 2.2 reads keys of this kind.
	gpg bool
	// hash is the signature hash go-crypto must use with this kind.
	hash crypto.Hash
}

var (
	// kindEd25519 is the v4 "legacy" EdDSA/ECDH form on Curve25519 that
	// GnuPG 2.2 reads (not the RFC 9580 Ed25519 algorithm 27).
	kindEd25519 = keyKind{name: "ed25519", gpg: true, hash: crypto.SHA256, config: packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256,
	}}
	kindRSA3072 = keyKind{name: "rsa3072", gpg: true, hash: crypto.SHA256, config: packet.Config{
		Algorithm: packet.PubKeyAlgoRSA, RSABits: 3072,
		DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256,
	}}
	// kindP521 forces SHA-512 signatures whatever DefaultHash says.
	kindP521 = keyKind{name: "p521", gpg: true, hash: crypto.SHA512, config: packet.Config{
		Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP521,
		DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256,
	}}
	// kindEd448 forces SHA-512 too; GnuPG 2.2 rejects the algorithm.
	kindEd448 = keyKind{name: "ed448", gpg: false, hash: crypto.SHA512, config: packet.Config{
		Algorithm:   packet.PubKeyAlgoEd448,
		DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256,
	}}
	// kindAEAD is a v4 Ed25519 legacy key whose self-signature advertises
	// SEIPDv2.
	kindAEAD = keyKind{name: "aead", gpg: false, hash: crypto.SHA256, config: packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256,
		AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
	}}
)

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]*openpgp.Entity{}
)

// testKey returns a key of kind for the user name, generated once per test
// binary because RSA generation takes seconds.
func testKey(t testing.TB, kind keyKind, name string) *openpgp.Entity {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()

	cacheKey := kind.name + "/" + name
	if entity, ok := keyCache[cacheKey]; ok {
		return entity
	}
	config := kind.config
	entity, err := openpgp.NewEntity(name, "", name+"@example.org", &config)
	if err != nil {
		t.Fatalf("failed to generate a %s key: %v", kind.name, err)
	}
	keyCache[cacheKey] = entity
	return entity
}

// armoredPublicKey returns the armored certificate of entity.
func armoredPublicKey(t testing.TB, entity *openpgp.Entity) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := armor.Encode(&out, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := entity.Serialize(w); err != nil {
		t.Fatalf("failed to serialize the public key: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// armoredSecretKey returns the armored, unprotected secret key of entity.
func armoredSecretKey(t testing.TB, entity *openpgp.Entity) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := armor.Encode(&out, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := entity.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatalf("failed to serialize the secret key: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// publicOnly returns a copy of entity with its secret keys removed, as a
// keyring holds a correspondent's certificate.
func publicOnly(t testing.TB, entity *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	var buf bytes.Buffer
	if err := entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	list, err := openpgp.ReadKeyRing(&buf)
	if err != nil || len(list) != 1 {
		t.Fatalf("failed to read back the public key: %v", err)
	}
	return list[0]
}
