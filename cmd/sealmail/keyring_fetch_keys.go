package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/mailaddr"
)

// The packet tags that start a key (RFC 9580 section 5).
const (
	tagSecretKey = 5
	tagPublicKey = 6
)

// servedKeys is a directory's response split into the keys for the
// looked-up address and the others.
type servedKeys struct {
	// matching contains, in binary, the keys with a user ID for the
	// address, the keys that could not be read here (so that the import
	// reports them), and any packets before the first key.
	matching []byte
	// others names each key without a user ID for the address, as
	// fingerprint and user IDs.
	others []string
}

// splitServedKeys splits the keys of a directory's response, binary or
// armored, by whether they have a user ID for address, matched as
// keyring.ImportOptions.Address matches. The import checks the matching
// keys again, so a key this split misjudges is rejected, never stored
// with another address. ok is false when the response cannot be split,
// and the caller imports it as it is.
func splitServedKeys(data []byte, address string) (keys servedKeys, ok bool) {
	binary, ok := dearmorKeys(data)
	if !ok {
		return servedKeys{}, false
	}

	want := mailaddr.Fold(address)
	var matching bytes.Buffer
	var key bytes.Buffer
	flush := func() {
		defer key.Reset()
		if key.Len() == 0 {
			return
		}
		if name, matches := keyMatches(key.Bytes(), want); !matches {
			keys.others = append(keys.others, name)
			return
		}
		matching.Write(key.Bytes())
	}

	r := packet.NewOpaqueReader(bytes.NewReader(binary))
	for {
		op, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return servedKeys{}, false
		}
		if op.Tag == tagSecretKey || op.Tag == tagPublicKey {
			flush()
		} else if key.Len() == 0 {
			// Packets before the first key, such as a revocation
			// certificate, go to the import, which checks them.
			if err := op.Serialize(&matching); err != nil {
				return servedKeys{}, false
			}
			continue
		}
		if err := op.Serialize(&key); err != nil {
			return servedKeys{}, false
		}
	}
	flush()
	keys.matching = matching.Bytes()
	return keys, true
}

// keyMatches reads the key in data and reports whether it has a user ID
// for the folded address want, and names it. A key that cannot be read
// counts as matching, so that the import reports why.
func keyMatches(data []byte, want string) (name string, matches bool) {
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(data)))
	if err != nil {
		return "", true
	}
	var userIDs []string
	for _, identity := range e.Identities {
		userIDs = append(userIDs, identity.Name)
		if userIDAddress(identity) == want {
			matches = true
		}
	}
	name = fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
	if len(userIDs) > 0 {
		name += " " + printableList(userIDs)
	}
	return name, matches
}

// userIDAddress returns the folded address of a user ID of the form
// "Name <address>" or "address", or "", as the keyring reads it.
func userIDAddress(identity *openpgp.Identity) string {
	if identity.UserId != nil && identity.UserId.Email != "" {
		return mailaddr.Fold(identity.UserId.Email)
	}
	name := strings.TrimSpace(identity.Name)
	if strings.Contains(name, "@") && !strings.ContainsAny(name, " <>()") {
		return mailaddr.Fold(name)
	}
	return ""
}

// dearmorKeys returns data in binary: data itself when it is binary, or
// the bodies of its armored key blocks. ok is false for anything else.
func dearmorKeys(data []byte) (binary []byte, ok bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, false
	}
	// Every OpenPGP packet starts with a tag byte whose top bit is set
	// (RFC 9580 section 4.2), and armor is ASCII.
	if trimmed[0]&0x80 != 0 {
		return data, true
	}

	const end = "-----END PGP PUBLIC KEY BLOCK-----"
	var out bytes.Buffer
	rest := trimmed
	for len(bytes.TrimSpace(rest)) > 0 {
		i := bytes.Index(rest, []byte(end))
		if i < 0 {
			return nil, false
		}
		block, err := armor.Decode(bytes.NewReader(rest[:i+len(end)]))
		if err != nil || block.Type != openpgp.PublicKeyType {
			return nil, false
		}
		if _, err := out.ReadFrom(block.Body); err != nil {
			return nil, false
		}
		rest = rest[i+len(end):]
	}
	return out.Bytes(), true
}
