package keyring

import (
	"crypto"
	"fmt"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// GenerateOptions choose the kind of key Generate makes. The zero value makes
// a v4 Ed25519 primary key with a Cv25519 encryption subkey, which GnuPG 2.2
// reads.
type GenerateOptions struct {
	// RSABits, when not zero, makes an RSA key of that size instead (2048,
	// 3072 or 4096).
	RSABits int
	// Lifetime, when not zero, makes the key expire that long after Now.
	Lifetime time.Duration
	// Now is the creation time; zero means time.Now().
	Now time.Time
}

// Generate makes a new key for name and address. The secret key material is
// not encrypted; call Entity.EncryptPrivateKeys to protect it.
//
// The key is v4 with the legacy EdDSA and ECDH algorithms over Curve25519
// (RFC 4880bis), not the RFC 9580 Ed25519 and X25519 ones, because GnuPG 2.2
// rejects those. Its self-signature prefers SHA-256 and AES-256 and
// advertises SEIPDv1 only: GnuPG 2.2 cannot read SEIPDv2 (AEAD) messages, so
// no sender must pick it for this key.
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
		V6Keys:     false,
	}

	switch opts.RSABits {
	case 0:
		config.Algorithm = packet.PubKeyAlgoEdDSA
		config.Curve = packet.Curve25519
	case 2048, 3072, 4096:
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
