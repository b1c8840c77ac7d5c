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

// Expiring reports whether e is valid at now and stops being usable for
// encryption within ExpiringWindow after now, by the expiry of its primary
// key or of its encryption subkey, as EncryptionExpiry returns it.
func (e Entry) Expiring(now time.Time) bool {
	expiry, _ := e.EncryptionExpiry()
	return e.Status == StatusValid && expiry != nil && expiry.Sub(now) <= ExpiringWindow
}

// EncryptionExpiry returns when e stops being usable for encryption by
// expiry: the earlier of Expires and EncryptionSubkeyExpires, or nil when
// neither is set. bySubkey reports whether the expiry is that of the
// encryption subkey.
func (e Entry) EncryptionExpiry() (expiry *time.Time, bySubkey bool) {
	subkey := e.EncryptionSubkeyExpires
	if subkey != nil && (e.Expires == nil || subkey.Before(*e.Expires)) {
		return subkey, true
	}
	return e.Expires, false
}
