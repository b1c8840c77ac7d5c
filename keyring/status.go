package keyring

import (
	"errors"
	"fmt"
	"strings"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// minRSABits is the smallest RSA modulus accepted for encryption. RSA keys
// of 1024 bits are within reach of a well-funded attacker, and NIST SP
// 800-131A disallows them.
const minRSABits = 2048

// encryptionStatus returns whether e can be encrypted to at now and, when it
// cannot, the detail of why.
func encryptionStatus(e *openpgp.Entity, now time.Time) (Status, error) {
	// A revocation wins over expiry and over broken self-signatures.
	if e.Revoked(now) {
		return StatusRevoked, nil
	}
	if status, err := primaryStatus(e, now); status != StatusValid {
		return status, err
	}

	key, err := e.EncryptionKeyWithError(now, nil)
	if err != nil {
		return selectionStatus(err)
	}
	if err := checkRSA(key.PublicKey); err != nil {
		return StatusWeak, err
	}
	return StatusValid, nil
}

// signingStatus returns whether e can make signatures at now and, when it
// cannot, the detail of why.
func signingStatus(e *openpgp.Entity, now time.Time) (Status, error) {
	if e.Revoked(now) {
		return StatusRevoked, nil
	}
	if status, err := primaryStatus(e, now); status != StatusValid {
		return status, err
	}

	key, ok := e.SigningKey(now, nil)
	if !ok {
		return StatusNoSigning, nil
	}
	if err := checkRSA(key.PublicKey); err != nil {
		return StatusWeak, err
	}
	if err := checkSigningSecret(e, key); err != nil {
		return StatusNoSigningSecret, err
	}
	return StatusValid, nil
}

// primaryStatus checks the primary key of e at now: its self-signature,
// expiry, revocation and strength.
func primaryStatus(e *openpgp.Entity, now time.Time) (Status, error) {
	if _, err := e.VerifyPrimaryKey(now, nil); err != nil {
		return primaryErrorStatus(err), err
	}
	if err := checkRSA(e.PrimaryKey); err != nil {
		return StatusWeak, err
	}
	return StatusValid, nil
}

// primaryErrorStatus maps an error about the primary key to a Status.
func primaryErrorStatus(err error) Status {
	var weak pgperrors.WeakAlgorithmError
	switch {
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return StatusRevoked
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return StatusExpired
	case errors.As(err, &weak):
		return StatusWeak
	default:
		return StatusInvalid
	}
}

// selectionStatus maps an error of Entity.EncryptionKeyWithError to a Status.
func selectionStatus(err error) (Status, error) {
	var selection pgperrors.ErrEncryptionKeySelection
	var selectionPtr *pgperrors.ErrEncryptionKeySelection
	switch {
	case errors.As(err, &selection):
	case errors.As(err, &selectionPtr) && selectionPtr != nil:
		selection = *selectionPtr
	default:
		return StatusInvalid, err
	}

	if selection.PrimaryKeyErr != nil {
		return primaryErrorStatus(selection.PrimaryKeyErr), selection.PrimaryKeyErr
	}
	var weak pgperrors.WeakAlgorithmError
	if errors.As(selection.EncSelectionErr, &weak) {
		return StatusWeak, selection.EncSelectionErr
	}
	if selection.EncSelectionKeyId != nil {
		return StatusNoEncryption, fmt.Errorf("subkey %s: %w", *selection.EncSelectionKeyId, selection.EncSelectionErr)
	}
	return StatusNoEncryption, nil
}

// checkRSA returns an error when pk is an RSA key of fewer than minRSABits.
func checkRSA(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
	default:
		return nil
	}

	bits, err := pk.BitLength()
	if err != nil {
		return fmt.Errorf("failed to read size of RSA key %X: %w", pk.Fingerprint, err)
	}
	if bits < minRSABits {
		return fmt.Errorf("RSA key %X has %d bits, fewer than the minimum of %d", pk.Fingerprint, bits, minRSABits)
	}
	return nil
}

// keyExpiry returns when the primary key of e expires, or nil if it does
// not, according to its newest valid self-signature.
func keyExpiry(e *openpgp.Entity) *time.Time {
	sig, err := e.PrimarySelfSignature(time.Time{}, nil)
	if err != nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return nil
	}
	expiry := e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	return &expiry
}

// algorithmName names the algorithm and size of pk as GnuPG's --list-keys
// does: "rsa3072", "ed25519", "cv25519", "nistp256".
func algorithmName(pk *packet.PublicKey) string {
	bits, _ := pk.BitLength()
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		return fmt.Sprintf("rsa%d", bits)
	case packet.PubKeyAlgoDSA:
		return fmt.Sprintf("dsa%d", bits)
	case packet.PubKeyAlgoElGamal:
		return fmt.Sprintf("elg%d", bits)
	case packet.PubKeyAlgoEd25519:
		return "ed25519"
	case packet.PubKeyAlgoEd448:
		return "ed448"
	case packet.PubKeyAlgoX25519:
		return "x25519"
	case packet.PubKeyAlgoX448:
		return "x448"
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDH, packet.PubKeyAlgoECDSA:
		curve, err := pk.Curve()
		if err != nil {
			return fmt.Sprintf("algorithm%d", pk.PubKeyAlgo)
		}
		return curveName(pk.PubKeyAlgo, curve)
	default:
		return fmt.Sprintf("algorithm%d", pk.PubKeyAlgo)
	}
}

// curveName names an elliptic curve key the way GnuPG does.
func curveName(algo packet.PublicKeyAlgorithm, curve packet.Curve) string {
	switch curve {
	case packet.Curve25519:
		if algo == packet.PubKeyAlgoECDH {
			return "cv25519"
		}
		return "ed25519"
	case packet.Curve448:
		if algo == packet.PubKeyAlgoECDH {
			return "cv448"
		}
		return "ed448"
	case packet.CurveNistP256, packet.CurveNistP384, packet.CurveNistP521:
		return "nist" + strings.ToLower(string(curve))
	default:
		return strings.ToLower(string(curve))
	}
}
