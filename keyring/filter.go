package keyring

import "time"

// ExpiringWindow is how long before its expiry a valid key counts as
// expiring, for Entry.Expiring and "keyring list --status expiring".
const ExpiringWindow = 30 * 24 * time.Hour

// Statuses returns every Status of this package that List and Find can
// report, for checking a status given by the user: all but those that only
// SigningKey reports.
func Statuses() []Status {
	return []Status{
		StatusValid, StatusExpired, StatusRevoked, StatusNoEncryption, StatusInvalid,
		StatusWeak, StatusUnsupported, StatusUnreadable,
		StatusNotYetValid, StatusUntrusted, StatusNoEmailProtection, StatusWrongKeyUsage,
		StatusAddressMismatch, StatusAnchor, StatusCA, StatusRevocationUnknown,
	}
}

// HasAddress reports whether address is one of e.Addresses, compared as
// Find compares addresses: without regard to case, and with the domain in
// its IDN (punycode) form.
func (e Entry) HasAddress(address string) bool {
	want := normalizeAddress(address)
	for _, candidate := range e.Addresses {
		if normalizeAddress(candidate) == want {
			return true
		}
	}
	return false
}

// Expiring reports whether e is valid at now and expires within
// ExpiringWindow after now.
func (e Entry) Expiring(now time.Time) bool {
	return e.Status == StatusValid && e.Expires != nil && e.Expires.Sub(now) <= ExpiringWindow
}
