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
		if err := unsupportedSubkey(e, now, "encryption", isEncryptionBinding); err != nil {
			return StatusUnsupported, err
		}
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
		if err := unsupportedSubkey(e, now, "signing", isSigningBinding); err != nil {
			return StatusUnsupported, err
		}
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
// expiry, revocation, algorithm and strength.
func primaryStatus(e *openpgp.Entity, now time.Time) (Status, error) {
	if _, err := e.VerifyPrimaryKey(now, nil); err != nil {
		return primaryErrorStatus(err), err
	}
	// The OpenPGP library rejects a key whose primary key has such an
	// algorithm for encryption too, because the primary key certifies the
	// subkeys.
	if err := unsupportedAlgorithm(e.PrimaryKey, ""); err != nil {
		return StatusUnsupported, err
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
		subkey := "subkey 0x" + *selection.EncSelectionKeyId
		switch {
		case errors.Is(selection.EncSelectionErr, pgperrors.ErrKeyRevoked):
			return StatusNoEncryption, errors.New(subkey + " is revoked")
		case errors.Is(selection.EncSelectionErr, pgperrors.ErrKeyExpired):
			return StatusNoEncryption, errors.New(subkey + " expired")
		}
		return StatusNoEncryption, fmt.Errorf("%s: %w", subkey, selection.EncSelectionErr)
	}
	return StatusNoEncryption, nil
}

// algorithmError reports that a key uses an algorithm or curve that sealmail
// does not sign or encrypt with.
type algorithmError struct {
	subkey    string // "" for the primary key, or "encryption subkey 0x..."
	algorithm string // "the DSA algorithm", "the secp256k1 curve"
}

func (e *algorithmError) Error() string {
	predicate := "uses " + e.algorithm + ", which sealmail does not sign or encrypt with"
	if e.subkey == "" {
		return predicate
	}
	return "its " + e.subkey + " " + predicate
}

// unsupportedAlgorithm returns an *algorithmError when pk uses an algorithm
// or curve that the OpenPGP library rejects by default (DSA, ElGamal and
// secp256k1 in go-crypto v1.5), or nil. subkey names pk for the message when
// it is a subkey.
func unsupportedAlgorithm(pk *packet.PublicKey, subkey string) error {
	// A nil Config holds the library's defaults.
	var defaults *packet.Config
	if defaults.RejectPublicKeyAlgorithm(pk.PubKeyAlgo) {
		return &algorithmError{subkey: subkey, algorithm: "the " + algorithmLabel(pk.PubKeyAlgo) + " algorithm"}
	}

	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoECDH, packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDSA:
		curve, err := pk.Curve()
		if err != nil {
			return &algorithmError{subkey: subkey, algorithm: "an unknown elliptic curve"}
		}
		if defaults.RejectCurve(curve) {
			return &algorithmError{subkey: subkey, algorithm: "the " + string(curve) + " curve"}
		}
	}
	return nil
}

// unsupportedSubkey returns an *algorithmError for a subkey of e that is
// bound at now for the purpose that isBound checks, such as encryption, but
// that uses an unsupported algorithm, or nil. A lookup calls it when the key
// has no usable subkey, to say why.
func unsupportedSubkey(e *openpgp.Entity, now time.Time, purpose string,
	isBound func(*packet.Signature) bool) error {
	for i := range e.Subkeys {
		subkey := &e.Subkeys[i]
		binding, err := subkey.Verify(now, nil)
		if err != nil || !isBound(binding) {
			continue
		}
		name := fmt.Sprintf("%s subkey 0x%016X", purpose, subkey.PublicKey.KeyId)
		if err := unsupportedAlgorithm(subkey.PublicKey, name); err != nil {
			return err
		}
	}
	return nil
}

// isEncryptionBinding reports whether the binding signature sig lets its
// subkey encrypt. Without key flags, go-crypto v1.5 grants no use by default.
func isEncryptionBinding(sig *packet.Signature) bool {
	return sig.FlagsValid && (sig.FlagEncryptCommunications || sig.FlagEncryptStorage)
}

// isSigningBinding reports whether the binding signature sig lets its
// subkey sign.
func isSigningBinding(sig *packet.Signature) bool {
	return sig.FlagsValid && sig.FlagSign
}

// algorithmLabel names a public key algorithm for messages, as RFC 9580
// section 9.1 does.
func algorithmLabel(algo packet.PublicKeyAlgorithm) string {
	switch algo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		return "RSA"
	case packet.PubKeyAlgoDSA:
		return "DSA"
	case packet.PubKeyAlgoElGamal:
		return "ElGamal"
	case packet.PubKeyAlgoECDH:
		return "ECDH"
	case packet.PubKeyAlgoECDSA:
		return "ECDSA"
	case packet.PubKeyAlgoEdDSA:
		return "EdDSA"
	case packet.PubKeyAlgoX25519:
		return "X25519"
	case packet.PubKeyAlgoX448:
		return "X448"
	case packet.PubKeyAlgoEd25519:
		return "Ed25519"
	case packet.PubKeyAlgoEd448:
		return "Ed448"
	default:
		return fmt.Sprintf("unknown (%d)", uint8(algo))
	}
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
