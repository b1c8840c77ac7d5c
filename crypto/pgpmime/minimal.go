package pgpmime

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/mailaddr"
)

// MinimalKey returns the smallest certificate of key that lets another
// program encrypt to it and verify its signatures, as an Autocrypt header
// (Autocrypt Level 1) or an attached key part carries it:
//
//   - the primary key, and its newest valid direct-key signature if it has
//     one (a v6 key keeps its expiry and preferences there);
//   - identity with its newest self-signature valid at now, or the primary
//     user ID when identity is nil;
//   - the newest encryption subkey valid at now with its binding signature,
//     unless the primary key is the encryption key.
//
// Third-party certifications, other user IDs and subkeys, superseded
// signatures and all secret key material are left out. A key without a valid
// user ID or encryption key at now returns an error.
func MinimalKey(key *openpgp.Entity, identity *openpgp.Identity, now time.Time) (*openpgp.Entity, error) {
	var selfSignature *packet.Signature
	if identity == nil {
		selfSignature, identity = key.PrimaryIdentity(now, nil)
		if identity == nil {
			return nil, fmt.Errorf("key %X has no valid user ID", key.PrimaryKey.Fingerprint)
		}
	} else {
		var err error
		if selfSignature, err = identity.Verify(now, nil); err != nil {
			return nil, fmt.Errorf("the user ID %q of key %X is not valid: %w", identity.Name, key.PrimaryKey.Fingerprint, err)
		}
	}

	minimal := &openpgp.Entity{
		PrimaryKey: key.PrimaryKey,
		Identities: map[string]*openpgp.Identity{},
	}
	if direct, err := key.LatestValidDirectSignature(now, nil); err == nil {
		minimal.DirectSignatures = []*packet.VerifiableSignature{packet.NewVerifiableSig(direct)}
	}
	minimal.Identities[identity.Name] = &openpgp.Identity{
		Primary:            minimal,
		Name:               identity.Name,
		UserId:             identity.UserId,
		SelfCertifications: []*packet.VerifiableSignature{packet.NewVerifiableSig(selfSignature)},
	}

	encryption, err := key.EncryptionKeyWithError(now, nil)
	if err != nil {
		return nil, fmt.Errorf("key %X has no valid encryption key: %w", key.PrimaryKey.Fingerprint, err)
	}
	if !bytes.Equal(encryption.PublicKey.Fingerprint, key.PrimaryKey.Fingerprint) {
		minimal.Subkeys = []openpgp.Subkey{{
			Primary:   minimal,
			PublicKey: encryption.PublicKey,
			Bindings:  []*packet.VerifiableSignature{packet.NewVerifiableSig(encryption.SelfSignature)},
		}}
	}
	return minimal, nil
}

// AddressIdentity returns the user ID of key whose email address is address,
// compared without regard to case and with internationalized domains in
// their ASCII form, and whose self-signature is valid at now.
// It returns nil when there is none. Of several such user IDs, it returns the
// first by name, so that the choice does not depend on map order.
func AddressIdentity(key *openpgp.Entity, address string, now time.Time) *openpgp.Identity {
	want := mailaddr.Fold(address)
	var found *openpgp.Identity
	for _, identity := range key.Identities {
		if identity.UserId == nil || mailaddr.Fold(identity.UserId.Email) != want {
			continue
		}
		if _, err := identity.Verify(now, nil); err != nil {
			continue
		}
		if found == nil || identity.Name < found.Name {
			found = identity
		}
	}
	return found
}
