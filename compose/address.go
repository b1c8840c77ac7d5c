package compose

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ParseAddressList parses s as an RFC 5322 address list, such as the value
// of a --to flag, and applies the rules of New to each address: the domain
// goes to punycode, and a local part outside ASCII is an error. A quoted
// display name may contain a comma.
func ParseAddressList(s string) ([]*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &InputError{Err: fmt.Errorf("invalid address list %q: it is empty", s)}
	}
	if err := checkLine("address list", s); err != nil {
		return nil, &InputError{Err: err}
	}

	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, &InputError{Err: fmt.Errorf("invalid address list %q: %w", s, err)}
	}
	if len(list) == 0 {
		return nil, &InputError{Err: fmt.Errorf("invalid address list %q: it contains no address", s)}
	}
	out := make([]*mail.Address, len(list))
	for i, a := range list {
		out[i], err = normalizeAddress("", a)
		if err != nil {
			return nil, &InputError{Err: err}
		}
	}
	return out, nil
}

// normalizeAddress checks a and returns a copy whose domain is punycode.
// field names the header field a belongs to, for the error; it may be empty.
func normalizeAddress(field string, a *mail.Address) (*mail.Address, error) {
	role := strings.TrimSpace(field + " address")
	if a == nil {
		return nil, fmt.Errorf("invalid %s: it is nil", role)
	}
	if err := checkLine(strings.TrimSpace(field+" display name"), a.Name); err != nil {
		return nil, err
	}
	if err := checkLine(role, a.Address); err != nil {
		return nil, err
	}

	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return nil, fmt.Errorf("invalid %s %q: it needs a local part, an @ and a domain", role, a.Address)
	}
	local, domain := a.Address[:at], a.Address[at+1:]
	if !isASCII(local) {
		return nil, fmt.Errorf("invalid %s %q: the local part is not ASCII, and Amazon SES cannot send to it because it does not support SMTPUTF8", role, a.Address)
	}

	// The lookup profile maps (lowercases) and validates the domain as a
	// name to resolve, which is what an MTA does with it.
	asciiDomain, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return nil, fmt.Errorf("invalid %s %q: invalid domain: %w", role, a.Address, err)
	}
	if err := checkDomainLength(asciiDomain); err != nil {
		return nil, fmt.Errorf("invalid %s %q: invalid domain: %w", role, a.Address, err)
	}
	addr := local + "@" + asciiDomain
	if !isDotAtom(local) {
		return nil, fmt.Errorf("invalid %s %q: the local part is not a dot-atom; quoted local parts are not supported", role, a.Address)
	}
	return &mail.Address{Name: a.Name, Address: addr}, nil
}

// checkLine rejects a value that would break out of its header line or is
// not valid UTF-8: CR, LF, NUL and the other control characters except tab.
// what names the value in the error, such as "subject".
func checkLine(what, value string) error {
	if !utf8.ValidString(value) {
		return fmt.Errorf("invalid %s: %q is not valid UTF-8; convert it to UTF-8", what, value)
	}
	for _, r := range value {
		switch {
		case r == '\r':
			return fmt.Errorf("invalid %s: %q contains a carriage return (CR), but it must be a single line", what, value)
		case r == '\n':
			return fmt.Errorf("invalid %s: %q contains a line feed (LF), but it must be a single line", what, value)
		case r == 0:
			return fmt.Errorf("invalid %s: %q contains a NUL character; remove it", what, value)
		case r < ' ' && r != '\t', r == 0x7f:
			return fmt.Errorf("invalid %s: %q contains the control character %U; remove it", what, value, r)
		}
	}
	return nil
}

// checkDomainLength applies the DNS limits of RFC 1035 section 2.3.4, which
// the lookup profile leaves out: no empty label, labels of at most 63 octets
// and at most 253 octets in all.
func checkDomainLength(domain string) error {
	if len(domain) > 253 {
		return fmt.Errorf("it is longer than 253 octets")
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return fmt.Errorf("it has an empty label")
		}
		if len(label) > 63 {
			return fmt.Errorf("its label %q is longer than 63 octets", label)
		}
	}
	return nil
}

// isDotAtom reports whether s is a dot-atom of RFC 5322 section 3.2.3: atoms
// of atext joined by single dots.
func isDotAtom(s string) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
