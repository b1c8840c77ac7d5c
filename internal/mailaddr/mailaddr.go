// Package mailaddr compares email addresses as sealmail matches them to
// OpenPGP user IDs.
package mailaddr

import (
	"strings"

	"golang.org/x/net/idna"
)

// Fold returns address in the form in which sealmail compares addresses:
// lowercase, with the domain in its ASCII (punycode) form, so that
// "idn@bücher.example" and "IDN@xn--bcher-kva.example" fold alike. The
// domain goes through the Lookup profile of UTS #46, which is meant for
// domains that are looked up rather than registered. A domain it rejects
// stays as it is.
// NOTE: the whole address is lowercased, local part included, as GnuPG
// matches it, although RFC 5321 lets a server tell local parts apart by case.
func Fold(address string) string {
	address = strings.ToLower(address)
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return address
	}
	domain, err := idna.Lookup.ToASCII(address[at+1:])
	if err != nil {
		return address
	}
	return address[:at+1] + domain
}
