package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sealmail/sealmail/keyring"
)

// statusExpiring is the --status value of "keyring list" for valid keys
// that expire within keyring.ExpiringWindow.
const statusExpiring = "expiring"

// listFilter is the set of filters of "keyring list". Its zero value keeps
// every entry.
type listFilter struct {
	status    string // a keyring.Status, statusExpiring, or "" for any
	kind      string // keyring.KindOpenPGP, keyring.KindX509, or "" for any
	secret    bool
	addresses []string
}

// newListFilter checks the flag values and arguments of "keyring list".
func newListFilter(status, kind string, secret bool, addresses []string) (listFilter, error) {
	if status != "" && status != statusExpiring && !isStatus(status) {
		names := []string{statusExpiring}
		for _, s := range keyring.Statuses() {
			names = append(names, string(s))
		}
		return listFilter{}, usagef("keyring list: unknown --status %q: use one of %s", status, strings.Join(names, ", "))
	}
	switch kind {
	case "", keyring.KindOpenPGP, keyring.KindX509:
	default:
		return listFilter{}, usagef("keyring list: unknown --kind %q: use openpgp or x509", kind)
	}
	for _, address := range addresses {
		if !strings.Contains(address, "@") {
			return listFilter{}, usagef("keyring list: %q is not an email address: to look up a fingerprint, use \"sealmail keyring show\"", address)
		}
	}
	return listFilter{status: status, kind: kind, secret: secret, addresses: addresses}, nil
}

func isStatus(s string) bool {
	for _, status := range keyring.Statuses() {
		if string(status) == s {
			return true
		}
	}
	return false
}

// apply returns the entries that pass every filter, in their order. An
// entry passes the address filter when it has any of the addresses. An
// unreadable file passes it too, because the key it contains may have one of
// them, unless it is the secret key file of a readable certificate that
// has none of them.
func (f listFilter) apply(entries []keyring.Entry, now time.Time) []keyring.Entry {
	// readable maps the fingerprints of the readable entries to whether
	// they pass the address filter.
	readable := map[string]bool{}
	for _, e := range entries {
		if e.Status != keyring.StatusUnreadable {
			readable[e.Kind+" "+e.Fingerprint] = hasAnyAddress(e, f.addresses)
		}
	}

	matching := []keyring.Entry{}
	for _, e := range entries {
		switch {
		case f.status == statusExpiring && !e.Expiring(now),
			f.status != "" && f.status != statusExpiring && string(e.Status) != f.status,
			f.kind != "" && e.Kind != f.kind,
			f.secret && !e.Secret,
			len(f.addresses) > 0 && !f.mayHaveAddress(e, readable):
			continue
		}
		matching = append(matching, e)
	}
	return matching
}

// mayHaveAddress reports whether e passes the address filter, as apply
// documents. readable is the map that apply builds.
func (f listFilter) mayHaveAddress(e keyring.Entry, readable map[string]bool) bool {
	if e.Status != keyring.StatusUnreadable {
		return hasAnyAddress(e, f.addresses)
	}
	matches, ok := readable[e.Kind+" "+e.Fingerprint]
	return !ok || matches
}

// missingAddresses returns the addresses of the filter that no readable
// entry has, in the order given. It returns none when entries contains an
// unreadable file that is not the secret key file of a readable entry,
// because the key in that file may have any of them.
func (f listFilter) missingAddresses(entries []keyring.Entry) []string {
	readable := map[string]bool{}
	for _, e := range entries {
		if e.Status != keyring.StatusUnreadable {
			readable[e.Kind+" "+e.Fingerprint] = true
		}
	}
	for _, e := range entries {
		if e.Status == keyring.StatusUnreadable && !readable[e.Kind+" "+e.Fingerprint] {
			return nil
		}
	}

	var missing []string
	for _, address := range f.addresses {
		found := false
		for _, e := range entries {
			if e.Status != keyring.StatusUnreadable && e.HasAddress(address) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, address)
		}
	}
	return missing
}

// noKeyError returns the error of "keyring list" for the addresses that
// have no key, or nil when there are none.
func noKeyError(missing []string) error {
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return &keyring.LookupError{Address: missing[0], Err: keyring.ErrNotFound}
	}
	quoted := make([]string, len(missing))
	for i, address := range missing {
		quoted[i] = strconv.Quote(address)
	}
	return fmt.Errorf("no key for %s in the keyring; import them with \"sealmail keyring import\": %w",
		strings.Join(quoted, ", "), keyring.ErrNotFound)
}

func hasAnyAddress(e keyring.Entry, addresses []string) bool {
	for _, address := range addresses {
		if e.HasAddress(address) {
			return true
		}
	}
	return false
}

// describeExpiry returns the expiry cell of "keyring list", for the earlier
// expiry of the primary key and the encryption subkey: "expires never",
// "expires 2027-01-02", "encryption subkey expires 2027-01-02", and for a
// valid key that expires within keyring.ExpiringWindow "expires 2027-01-02
// (in 12 days)".
func describeExpiry(e keyring.Entry, now time.Time) string {
	expiry, bySubkey := e.EncryptionExpiry()
	if expiry == nil {
		return "expires never"
	}
	cell := "expires " + expiry.UTC().Format(time.DateOnly)
	if bySubkey {
		cell = "encryption subkey " + cell
	}
	if !e.Expiring(now) {
		return cell
	}
	// Rounded to the nearest day, so a key made with --expires 20d shows
	// "in 20 days" on the day it was made.
	switch days := int((expiry.Sub(now) + 12*time.Hour) / (24 * time.Hour)); days {
	case 0:
		return cell + " (within a day)"
	case 1:
		return cell + " (in 1 day)"
	default:
		return fmt.Sprintf("%s (in %d days)", cell, days)
	}
}

// describeProvenance returns the provenance cell of "keyring list" for an
// OpenPGP key: its origin and whether its fingerprint was confirmed, as
// "wkd, not confirmed". X.509 certificates get "-", because trust anchors
// vouch for them instead.
func describeProvenance(e keyring.Entry) string {
	if e.Kind != keyring.KindOpenPGP {
		return "-"
	}
	origin := string(e.Origin)
	if e.Origin == keyring.OriginUnknown {
		origin = "origin unknown"
	}
	return origin + ", " + describeConfirmation(e)
}

// describeConfirmation describes whether the user confirmed e, and for which
// addresses when the confirmation covers only some of them.
func describeConfirmation(e keyring.Entry) string {
	switch {
	case e.Confirmed == nil || len(e.ConfirmedAddresses) == 0 && len(e.Addresses) > 0:
		return "not confirmed"
	case len(e.ConfirmedAddresses) < len(e.Addresses):
		return "confirmed for " + printableList(e.ConfirmedAddresses) + " only"
	default:
		return "confirmed"
	}
}

// warnProvenance prints a warning for each entry whose provenance file is
// damaged, since such a key silently counts as unconfirmed.
func warnProvenance(a *app, entries []keyring.Entry) {
	for _, e := range entries {
		if e.ProvenanceProblem != "" {
			a.progress("warning: %s", e.ProvenanceProblem)
		}
	}
}
