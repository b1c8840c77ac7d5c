package keyring

import (
	"errors"
	"fmt"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// ErrWrongPassphrase is returned by Unlock when the passphrase does not
// decrypt the key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Unlock decrypts the secret key material of e with passphrase. A key that
// is not encrypted is left as it is.
func Unlock(e *openpgp.Entity, passphrase []byte) error {
	if e.PrivateKey == nil {
		return fmt.Errorf("failed to unlock key %s: it contains no secret key material", displayFingerprint(e))
	}
	if !Locked(e) {
		return nil
	}

	// A wrong passphrase shows as a failed checksum or AEAD tag, which the
	// OpenPGP library reports like corrupt key material. The two cannot be
	// told apart, so both are reported as a wrong passphrase.
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		return fmt.Errorf("failed to unlock key %s: %w", displayFingerprint(e), ErrWrongPassphrase)
	}
	return nil
}

// Locked reports whether any secret key material of e is encrypted.
func Locked(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() && e.PrivateKey.Encrypted {
		return true
	}
	for _, subkey := range e.Subkeys {
		if subkey.PrivateKey != nil && !subkey.PrivateKey.Dummy() && subkey.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}
