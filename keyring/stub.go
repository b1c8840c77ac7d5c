package keyring

import (
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// stubHint is the next step for a user whose secret key cannot sign.
const stubHint = "export the primary secret key or a signing subkey with gpg, or send with --encrypt only"

// checkSigningSecret returns an error when key, the signing key that the
// OpenPGP library selects in e, has no secret key material. GnuPG writes such
// a key as a stub (the GNU dummy S2K) when "gpg --export-secret-subkeys"
// leaves the primary key or a subkey out, and signing with it fails.
func checkSigningSecret(e *openpgp.Entity, key openpgp.Key) error {
	if key.PrivateKey != nil && !key.PrivateKey.Dummy() {
		return nil
	}

	what := "has no secret key material"
	if key.PrivateKey != nil {
		what = "is a GnuPG stub"
	}
	if key.PublicKey.KeyId == e.PrimaryKey.KeyId {
		// The library signs with the primary key only when no valid
		// signing subkey exists.
		return fmt.Errorf("its primary key %s and it contains no signing subkey", what)
	}
	return fmt.Errorf("its signing subkey 0x%016X %s", key.PublicKey.KeyId, what)
}

// signingWarning returns why the secret key e cannot sign at now, for
// Imported.Warning, or "" when it can or when a lookup would reject it for
// another reason, such as expiry.
func signingWarning(e *openpgp.Entity, now time.Time) string {
	key, ok := e.SigningKey(now, nil)
	if !ok {
		return ""
	}
	if err := checkSigningSecret(e, key); err != nil {
		return fmt.Sprintf("secret key %s cannot sign: %v; %s", displayFingerprint(e), err, stubHint)
	}
	return ""
}

// replacesSecret reports whether the secret key material src should take
// the place of dst when two copies of a key are merged: when dst has none,
// or when dst is a GnuPG stub and src is not.
func replacesSecret(dst, src *packet.PrivateKey) bool {
	if src == nil {
		return false
	}
	return dst == nil || dst.Dummy() && !src.Dummy()
}
