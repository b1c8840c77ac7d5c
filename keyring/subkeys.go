package keyring

import (
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Subkey is one subkey of an OpenPGP key, as Entry.Subkeys lists it.
type Subkey struct {
	// Fingerprint is the subkey fingerprint in lowercase hex.
	Fingerprint string `json:"fingerprint"`
	Algorithm   string `json:"algorithm"` // "cv25519", "rsa3072", ...
	// Usage lists "encrypt", "sign", "authenticate" and "certify" as the
	// key flags of the binding signature grant them (RFC 9580 section
	// 5.2.3.29). It is empty for a subkey without a binding signature that
	// verifies, or without key flags.
	Usage   []string   `json:"usage"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires"` // null when it does not expire
	// Status is StatusValid, StatusExpired, StatusRevoked, or StatusInvalid
	// for a subkey without a binding signature that go-crypto accepts. It
	// is the subkey's own status: a valid subkey of an expired or revoked
	// primary key is still unusable.
	Status Status `json:"status"`
	// SelectedForEncryption is set on the subkey that sealmail encrypts to at
	// the time of the listing.
	SelectedForEncryption bool `json:"selected_for_encryption"`
}

// describeSubkeys returns the subkeys of e in the order of the certificate,
// with their status at now.
func describeSubkeys(e *openpgp.Entity, now time.Time) []Subkey {
	// The key that sealmail encrypts to is the one that go-crypto selects.
	encryptionKey, _ := e.EncryptionKey(now, nil)

	subkeys := make([]Subkey, 0, len(e.Subkeys))
	for i := range e.Subkeys {
		subkey := &e.Subkeys[i]
		status, binding := subkeyStatus(subkey, now)
		described := Subkey{
			Fingerprint:           hexFingerprint(subkey.PublicKey.Fingerprint),
			Algorithm:             algorithmName(subkey.PublicKey),
			Usage:                 subkeyUsage(binding),
			Created:               subkey.PublicKey.CreationTime,
			Status:                status,
			SelectedForEncryption: encryptionKey.PublicKey == subkey.PublicKey,
		}
		if expiry := SignatureExpiry(subkey.PublicKey, binding); !expiry.IsZero() {
			described.Expires = &expiry
		}
		subkeys = append(subkeys, described)
	}
	return subkeys
}

// encryptionSubkeyExpiry returns when the subkey of e that sealmail encrypts
// to at now expires, or nil when it does not expire, when the primary key
// is the encryption key, or when no key of e is usable for encryption.
func encryptionSubkeyExpiry(e *openpgp.Entity, now time.Time) *time.Time {
	key, ok := e.EncryptionKey(now, nil)
	if !ok || key.PublicKey == e.PrimaryKey {
		return nil
	}
	expiry := SignatureExpiry(key.PublicKey, key.SelfSignature)
	if expiry.IsZero() {
		return nil
	}
	return &expiry
}

// subkeyStatus returns the status of subkey at now and the binding signature
// that its expiry and usage come from, which is nil when no binding
// signature verifies.
func subkeyStatus(subkey *openpgp.Subkey, now time.Time) (Status, *packet.Signature) {
	// A subkey valid at now has the binding signature that go-crypto uses.
	if binding, err := subkey.Verify(now, nil); err == nil {
		return StatusValid, binding
	}

	binding := newestBinding(subkey)
	switch {
	case binding == nil:
		return StatusInvalid, nil
	case subkey.Revoked(binding, now):
		return StatusRevoked, binding
	case subkey.Expired(binding, now):
		return StatusExpired, binding
	default:
		// The signature verifies, but go-crypto rejects it for another
		// reason, such as a SHA-1 hash.
		return StatusInvalid, binding
	}
}

// newestBinding returns the newest binding signature of subkey that
// verifies, whether or not it or the subkey has expired, or nil. It checks
// each signature itself, because go-crypto v1.5 caches a signature found
// expired at an earlier check as invalid.
func newestBinding(subkey *openpgp.Subkey) *packet.Signature {
	var newest *packet.Signature
	for _, binding := range subkey.Bindings {
		sig := binding.Packet
		if newest != nil && !sig.CreationTime.After(newest.CreationTime) {
			continue
		}
		if subkey.Primary.PrimaryKey.VerifyKeySignature(subkey.PublicKey, sig) != nil {
			continue
		}
		newest = sig
	}
	return newest
}

// SignatureExpiry returns when key stops being valid by sig, its
// self-signature or binding signature: when the key lifetime or the
// signature lifetime ends, whichever comes first, as go-crypto's
// Subkey.Expired checks them. It returns the zero time when neither is set
// or sig is nil.
func SignatureExpiry(key *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil {
		return time.Time{}
	}
	var expiry time.Time
	for _, end := range []time.Time{
		lifetimeEnd(key.CreationTime, sig.KeyLifetimeSecs),
		lifetimeEnd(sig.CreationTime, sig.SigLifetimeSecs),
	} {
		if !end.IsZero() && (expiry.IsZero() || end.Before(expiry)) {
			expiry = end
		}
	}
	return expiry
}

// lifetimeEnd returns start plus the lifetime in seconds, or the zero time
// for no lifetime. A lifetime of 0 means none (RFC 9580 section 5.2.3.13).
func lifetimeEnd(start time.Time, secs *uint32) time.Time {
	if secs == nil || *secs == 0 {
		return time.Time{}
	}
	return start.Add(time.Duration(*secs) * time.Second)
}

// subkeyUsage returns the usages that the key flags of the binding
// signature sig grant.
func subkeyUsage(sig *packet.Signature) []string {
	usage := []string{}
	if sig == nil || !sig.FlagsValid {
		return usage
	}
	if sig.FlagEncryptCommunications || sig.FlagEncryptStorage {
		usage = append(usage, "encrypt")
	}
	if sig.FlagSign {
		usage = append(usage, "sign")
	}
	if sig.FlagAuthenticate {
		usage = append(usage, "authenticate")
	}
	if sig.FlagCertify {
		usage = append(usage, "certify")
	}
	return usage
}
