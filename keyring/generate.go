package keyring

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// GenerateOptions choose the kind of key Generate makes. The zero value makes
// a v4 Ed25519 primary key with a Cv25519 encryption subkey, which GnuPG 2.2
// reads.
type GenerateOptions struct {
	// RSABits, when not zero, makes an RSA key of that size instead (2048,
	// 3072 or 4096).
	RSABits int
	// V6 makes an RFC 9580 version 6 key: Ed25519 with an X25519 encryption
	// subkey (algorithms 27 and 25), or RSA of 3072 or 4096 bits. GnuPG 2.2
	// cannot read v6 keys, but OpenPGP.js 6 and go-crypto can.
	V6 bool
	// Lifetime, when not zero, makes the key expire that long after Now.
	Lifetime time.Duration
	// Now is the creation time; zero means time.Now().
	Now time.Time
}

// Generate makes a new key for name and address. The secret key material is
// not encrypted; call Entity.EncryptPrivateKeys to protect it, or use
// Keyring.GenerateSecretKey, which protects and stores it.
//
// A v4 key uses the legacy EdDSA and ECDH algorithms over Curve25519
// (RFC 4880bis), not the RFC 9580 Ed25519 and X25519 ones, because GnuPG 2.2
// rejects those. Its self-signature prefers SHA-256 and AES-256 and
// advertises SEIPDv1 only: GnuPG 2.2 cannot read SEIPDv2 (AEAD) messages, so
// no sender must pick it for this key.
//
// A v6 key (GenerateOptions.V6) carries its preferences and expiry in a
// direct-key signature. It advertises SEIPDv2 with OCB as well as SEIPDv1,
// because RFC 9580 defines both v6 keys and SEIPDv2, so a sender that
// reads the key can write SEIPDv2.
func Generate(name, address string, opts GenerateOptions) (*openpgp.Entity, error) {
	if err := checkUserID(name, address); err != nil {
		return nil, err
	}
	config, err := generateConfig(opts)
	if err != nil {
		return nil, err
	}

	e, err := openpgp.NewEntity(name, "", address, config)
	if err != nil {
		return nil, fmt.Errorf("failed to generate key for %q: %w", address, err)
	}
	return e, nil
}

// generateConfig returns the packet.Config that makes the key opts ask for.
func generateConfig(opts GenerateOptions) (*packet.Config, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// OpenPGP timestamps are whole seconds.
	now = now.Truncate(time.Second)

	config := &packet.Config{
		DefaultHash:   crypto.SHA256,
		DefaultCipher: packet.CipherAES256,
		Time:          func() time.Time { return now },
		// A nil AEADConfig keeps SEIPDv2 out of the features subpacket.
		AEADConfig: nil,
		V6Keys:     opts.V6,
	}
	if opts.V6 {
		config.AEADConfig = &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}
	}

	switch {
	case opts.RSABits == 0 && opts.V6:
		config.Algorithm = packet.PubKeyAlgoEd25519
	case opts.RSABits == 0:
		config.Algorithm = packet.PubKeyAlgoEdDSA
		config.Curve = packet.Curve25519
	case opts.RSABits == 2048 && opts.V6:
		// RSA reaches the 128-bit security level of Ed25519 at 3072 bits, and
		// nothing that reads v6 keys needs smaller ones.
		return nil, fmt.Errorf("invalid RSA key size %d for a v6 key: use 3072 or 4096", opts.RSABits)
	case opts.RSABits == 2048, opts.RSABits == 3072, opts.RSABits == 4096:
		config.Algorithm = packet.PubKeyAlgoRSA
		config.RSABits = opts.RSABits
	default:
		return nil, fmt.Errorf("invalid RSA key size %d: use 2048, 3072 or 4096", opts.RSABits)
	}

	if opts.Lifetime < 0 {
		return nil, fmt.Errorf("invalid key lifetime %s: it must not be negative", opts.Lifetime)
	}
	if opts.Lifetime > 0 {
		secs := int64(opts.Lifetime / time.Second)
		if secs < 1 || secs > math.MaxUint32 {
			return nil, fmt.Errorf("invalid key lifetime %s: use 1 second to 136 years", opts.Lifetime)
		}
		config.KeyLifetimeSecs = uint32(secs)
	}
	return config, nil
}

// checkUserID rejects a name or address that would make a malformed user ID.
func checkUserID(name, address string) error {
	if strings.ContainsAny(name, "()<>\x00\r\n") {
		return fmt.Errorf("invalid name %q: it must not contain ( ) < > or control characters", name)
	}
	parsed, err := mail.ParseAddress(address)
	if err != nil || parsed.Address != address || parsed.Name != "" {
		return fmt.Errorf("invalid address %q: use the bare form user@example.org", address)
	}
	return nil
}

// ErrEmptyPassphrase is returned by GenerateSecretKey for an empty
// passphrase: every secret key it stores is encrypted.
var ErrEmptyPassphrase = errors.New("the passphrase is empty")

// ErrSecretKeyExists is wrapped by the error of GenerateSecretKey when the
// keyring contains a usable secret key for the address already.
var ErrSecretKeyExists = errors.New("a usable secret key exists for the address")

// SecretKeyOptions choose how GenerateSecretKey makes and stores a key.
type SecretKeyOptions struct {
	GenerateOptions
	// AllowExisting makes a new key for an address that has a usable
	// secret key already. SigningKey then picks the newer key.
	AllowExisting bool
}

// GenerateSecretKey makes a key for name and address as Generate does,
// encrypts its secret key material with passphrase and stores it as the
// user's own key, with OriginGenerated and confirmed. It returns what Import
// stored and the key, still unlocked, for the caller to use or discard.
//
// The secret key of a v4 key is protected with the iterated and salted S2K
// over SHA-256 at its maximum count (65011712 octets) and AES-256 in CFB
// mode, the strongest protection GnuPG 2.2 reads. A v6 key gets the Argon2
// S2K (3 passes, 4 lanes, 64 MiB) and AES-256 in OCB mode, which RFC 9580
// added and GnuPG 2.2 cannot read either.
//
// When address has a usable secret key already and opts.AllowExisting is
// false, nothing is generated and the error wraps ErrSecretKeyExists and
// names the key.
func (k *Keyring) GenerateSecretKey(ctx context.Context, name, address string, passphrase []byte, opts SecretKeyOptions) (Imported, *openpgp.Entity, error) {
	if len(passphrase) == 0 {
		return Imported{}, nil, fmt.Errorf("failed to generate key for %q: %w", address, ErrEmptyPassphrase)
	}
	if err := checkUserID(name, address); err != nil {
		return Imported{}, nil, err
	}
	if !opts.AllowExisting {
		if err := k.checkNoSecretKey(ctx, address); err != nil {
			return Imported{}, nil, err
		}
	}

	e, err := Generate(name, address, opts.GenerateOptions)
	if err != nil {
		return Imported{}, nil, err
	}
	locked, err := protectedCopy(e, passphrase)
	if err != nil {
		return Imported{}, nil, fmt.Errorf("failed to protect key %s: %w", displayFingerprint(e), err)
	}
	data, err := encodeEntity(locked, true)
	if err != nil {
		return Imported{}, nil, fmt.Errorf("failed to serialize key %s: %w", displayFingerprint(e), err)
	}

	importOpts := ImportOptions{Origin: OriginGenerated, Source: "sealmail"}
	if !opts.AllowExisting {
		// Checked again with the lock held, so that two runs at once
		// cannot both store a key for the address.
		importOpts.precheck = func(ctx context.Context) error {
			return k.checkNoSecretKey(ctx, address)
		}
	}
	imported, err := k.ImportWithOptions(ctx, bytes.NewReader(data), importOpts)
	if err != nil {
		return Imported{}, nil, err
	}
	if len(imported) != 1 {
		return Imported{}, nil, fmt.Errorf("failed to store key %s: the import stored %d keys", displayFingerprint(e), len(imported))
	}
	return imported[0], e, nil
}

// checkNoSecretKey returns an error wrapping ErrSecretKeyExists when the
// keyring contains a usable secret key for address.
func (k *Keyring) checkNoSecretKey(ctx context.Context, address string) error {
	existing, err := k.SigningKey(ctx, address, time.Now())
	var lookup *LookupError
	switch {
	case err == nil:
		return fmt.Errorf("failed to generate key for %q: %w: key %s", address, ErrSecretKeyExists, displayFingerprint(existing))
	case errors.As(err, &lookup):
		// Missing or unusable: a new key may replace it.
		return nil
	default:
		return err
	}
}

// protectedCopy returns a copy of e whose secret key material is encrypted
// with passphrase, so that e stays unlocked for the caller.
func protectedCopy(e *openpgp.Entity, passphrase []byte) (*openpgp.Entity, error) {
	data, err := encodeEntity(e, true)
	if err != nil {
		return nil, err
	}
	c, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, err
	}

	config := &packet.Config{
		DefaultCipher: packet.CipherAES256,
		S2KConfig: &s2k.Config{
			S2KMode:  s2k.IteratedSaltedS2K,
			Hash:     crypto.SHA256,
			S2KCount: maxS2KCount,
		},
	}
	if e.PrimaryKey.Version == 6 {
		// go-crypto allows Argon2 only with AEAD protection. A nil
		// Argon2Config takes its defaults: 3 passes, 4 lanes, 64 MiB.
		config.S2KConfig = &s2k.Config{S2KMode: s2k.Argon2S2K}
		config.AEADConfig = &packet.AEADConfig{DefaultMode: packet.AEADModeOCB}
	}
	if err := c.EncryptPrivateKeys(passphrase, config); err != nil {
		return nil, err
	}
	if !Locked(c) {
		return nil, errors.New("the secret key material is not encrypted")
	}
	return c, nil
}

// maxS2KCount is the largest octet count that the iterated and salted S2K
// can encode, as go-crypto's s2k.Config documents.
const maxS2KCount = 65011712
