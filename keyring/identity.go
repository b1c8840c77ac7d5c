package keyring

import (
	"sort"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/mailaddr"
)

// normalizeAddress returns address in the form user IDs are matched in:
// trimmed of spaces and angle brackets, then folded by mailaddr.Fold
// (lowercase, the domain in ASCII).
func normalizeAddress(address string) string {
	address = strings.TrimSpace(address)
	address = strings.TrimPrefix(address, "<")
	address = strings.TrimSuffix(address, ">")
	return mailaddr.Fold(address)
}

// identityAddress returns the lowercase email address of a user ID of the
// form "Name <address>" or "address", or "" when it has none.
func identityAddress(identity *openpgp.Identity) string {
	if identity.UserId != nil && identity.UserId.Email != "" {
		return strings.ToLower(identity.UserId.Email)
	}
	name := strings.TrimSpace(identity.Name)
	if strings.Contains(name, "@") && !strings.ContainsAny(name, " <>()") {
		return strings.ToLower(name)
	}
	return ""
}

// boundIdentities returns the user IDs of e that carry a valid
// self-signature and are not revoked, at any time: an expired key keeps its
// addresses, so a lookup reports it as expired rather than missing.
func boundIdentities(e *openpgp.Entity) []*openpgp.Identity {
	var identities []*openpgp.Identity
	for _, identity := range e.Identities {
		if _, err := identity.Verify(time.Time{}, nil); err == nil {
			identities = append(identities, identity)
		}
	}
	return identities
}

// identityFor returns the bound user ID of e whose address normalizes to
// address, or nil.
func identityFor(e *openpgp.Entity, address string) *openpgp.Identity {
	if address == "" {
		return nil
	}
	var found *openpgp.Identity
	for _, identity := range boundIdentities(e) {
		if normalizeAddress(identityAddress(identity)) != address {
			continue
		}
		// Several user IDs may share an address; pick one by name so the
		// result does not depend on map order.
		if found == nil || identity.Name < found.Name {
			found = identity
		}
	}
	return found
}

// addresses returns the sorted addresses of the bound user IDs of e.
func addresses(e *openpgp.Entity) []string {
	seen := make(map[string]bool)
	list := []string{}
	for _, identity := range boundIdentities(e) {
		address := identityAddress(identity)
		if address != "" && !seen[address] {
			seen[address] = true
			list = append(list, address)
		}
	}
	sort.Strings(list)
	return list
}

// userIDs returns the user IDs of e that a valid self-signature binds,
// sorted. Others, such as one that only a third party certified or one that
// was revoked, are not shown as the owner's, as lookups ignore them too.
func userIDs(e *openpgp.Entity) []string {
	bound := boundIdentities(e)
	names := make([]string, 0, len(bound))
	for _, identity := range bound {
		names = append(names, identity.Name)
	}
	sort.Strings(names)
	return names
}

// primaryAddress returns the address of the primary user ID of e, or its
// first address, or "".
func primaryAddress(e *openpgp.Entity) string {
	if _, identity := e.PrimaryIdentity(time.Time{}, nil); identity != nil {
		if address := identityAddress(identity); address != "" {
			return address
		}
	}
	if list := addresses(e); len(list) > 0 {
		return list[0]
	}
	return ""
}
