package main

import (
	"context"
	"fmt"

	"github.com/sealmail/sealmail/keyring"
)

// importOrigin returns the note "keyring import" prints after an imported
// OpenPGP key to show where it came from, such as " (from the Autocrypt
// header of bob@example.org)". For an X.509 certificate it names the part of
// the message it came from. It returns "" for keys and certificates from
// files. For a key that was already stored, the note gives the
// origin it was first stored with, which is the one the keyring keeps.
func importOrigin(ctx context.Context, kr *keyring.Keyring, k keyring.Imported) string {
	if k.Kind != keyring.KindOpenPGP {
		if k.Location != "" {
			return fmt.Sprintf(" (from %s)", k.Location)
		}
		return ""
	}
	// The note only adds detail, so a provenance that cannot be read
	// leaves it out rather than failing an import that succeeded.
	p, err := kr.Provenance(ctx, k.Fingerprint)
	if err != nil {
		return ""
	}

	var origin string
	switch p.Origin {
	case keyring.OriginAutocrypt:
		origin = "from the Autocrypt header of " + p.Source
	case keyring.OriginAttached:
		origin = "from a key attached to a message from " + p.Source
	case keyring.OriginWKD:
		origin = "from the Web Key Directory " + p.Source
	default:
		return ""
	}
	if k.Updated {
		origin = "first stored " + origin
	}
	return fmt.Sprintf(" (%s)", origin)
}

// importVerb returns the word for what an import did with k: "imported"
// for a new key, "updated" for a stored key that gained something, and
// "unchanged" for a stored key that had everything already.
func importVerb(k keyring.Imported) string {
	switch {
	case k.Unchanged:
		return "unchanged"
	case k.Updated:
		return "updated"
	default:
		return "imported"
	}
}
