package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sealmail/sealmail/keyring"
)

// statusExpiring is the --status value of "keyring list" for valid keys
// that expire within keyring.ExpiringWindow.
const statusExpiring = "expiring"

// listFilter holds the filters of "keyring list"; its zero value keeps
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
			return listFilter{}, usagef("keyring list: %q is not an email address; to look up a fingerprint, use \"sealmail keyring show\"", address)
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
// entry passes the address filter when it has any of the addresses.
func (f listFilter) apply(entries []keyring.Entry, now time.Time) []keyring.Entry {
	matching := []keyring.Entry{}
	for _, e := range entries {
		switch {
		case f.status == statusExpiring && !e.Expiring(now),
			f.status != "" && f.status != statusExpiring && string(e.Status) != f.status,
			f.kind != "" && e.Kind != f.kind,
			f.secret && !e.Secret,
			len(f.addresses) > 0 && !hasAnyAddress(e, f.addresses):
			continue
		}
		matching = append(matching, e)
	}
	return matching
}

func hasAnyAddress(e keyring.Entry, addresses []string) bool {
	for _, address := range addresses {
		if e.HasAddress(address) {
			return true
		}
	}
	return false
}

// describeExpiry returns the expiry cell of "keyring list": "expires never",
// "expires 2027-01-02", or for a valid key that expires within
// keyring.ExpiringWindow "expires 2027-01-02 (in 12 days)".
func describeExpiry(e keyring.Entry, now time.Time) string {
	if e.Expires == nil {
		return "expires never"
	}
	cell := "expires " + e.Expires.UTC().Format(time.DateOnly)
	if !e.Expiring(now) {
		return cell
	}
	// Rounded to the nearest day, so a key made with --expires 20d shows
	// "in 20 days" on the day it was made.
	switch days := int((e.Expires.Sub(now) + 12*time.Hour) / (24 * time.Hour)); days {
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
	if e.Confirmed == nil {
		return origin + ", not confirmed"
	}
	return origin + ", confirmed"
}
