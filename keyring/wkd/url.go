package wkd

import (
	"crypto/sha1"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// zbase32 is z-base-32 (RFC 6189 section 5.1.6). For input whose length in
// bits is a multiple of 5, such as the 160 bits of a SHA-1 digest, it is
// base32 with another alphabet and no padding.
var zbase32 = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// Hash returns the hashed local part of a Web Key Directory URL: the
// z-base-32 encoding of the SHA-1 digest of localPart after mapping the
// ASCII letters A to Z to lowercase, always 32 characters. Other
// characters, such as non-ASCII letters, are hashed unchanged as UTF-8, as
// the draft requires.
func Hash(localPart string) string {
	digest := sha1.Sum([]byte(lowerASCII(localPart)))
	return zbase32.EncodeToString(digest[:])
}

// lowerASCII maps the ASCII letters A to Z of s to lowercase and leaves
// every other byte alone, unlike strings.ToLower.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// URLs returns the URLs of address for the advanced and the direct method.
// The domain is converted to its IDNA ASCII form with the UTS #46 lookup
// profile, which also maps it to lowercase. The local part is kept as it
// is, percent-encoded, in the "l" query parameter.
//
// An address that is not a bare addr-spec (RFC 5322 section 3.4.1: a
// dot-atom or a quoted string, one "@" and a domain), or whose domain is
// not a valid host name, returns an error wrapping ErrInvalidAddress.
func URLs(address string) (advanced, direct string, err error) {
	local, domain, err := splitAddress(address)
	if err != nil {
		return "", "", err
	}

	hash := Hash(local)
	query := "l=" + url.QueryEscape(local)
	advancedURL := url.URL{
		Scheme:   "https",
		Host:     "openpgpkey." + domain,
		Path:     "/.well-known/openpgpkey/" + domain + "/hu/" + hash,
		RawQuery: query,
	}
	directURL := url.URL{
		Scheme:   "https",
		Host:     domain,
		Path:     "/.well-known/openpgpkey/hu/" + hash,
		RawQuery: query,
	}
	return advancedURL.String(), directURL.String(), nil
}

// splitAddress returns the local part of address and its domain in IDNA
// ASCII form.
func splitAddress(address string) (local, domain string, err error) {
	if !utf8.ValidString(address) {
		return "", "", fmt.Errorf("invalid address %q: %w; it is not valid UTF-8", address, ErrInvalidAddress)
	}
	for _, r := range address {
		if r <= ' ' || r == 0x7f {
			return "", "", fmt.Errorf("invalid address %q: %w; it contains a space or a control character", address, ErrInvalidAddress)
		}
	}
	local, rest, err := cutLocalPart(address)
	if err != nil {
		return "", "", fmt.Errorf("invalid address %q: %w; %v; use the bare form user@example.org", address, ErrInvalidAddress, err)
	}
	if strings.Contains(rest, "@") {
		// "bob@example.org@evil.example" must not become a lookup of
		// "bob@example.org" at evil.example.
		return "", "", fmt.Errorf("invalid address %q: %w; it contains more than one \"@\" outside quotes; use the bare form user@example.org", address, ErrInvalidAddress)
	}

	// The lookup profile maps the domain to lowercase and rejects anything
	// that is not a host name, such as "[192.0.2.1]" or "example.org:443",
	// so the domain cannot move the request to another host or port.
	domain, err = idna.Lookup.ToASCII(rest)
	if err != nil {
		return "", "", fmt.Errorf("invalid address %q: %w; its domain is not a valid host name: %v", address, ErrInvalidAddress, err)
	}
	if domain == "" || strings.HasSuffix(domain, ".") {
		return "", "", fmt.Errorf("invalid address %q: %w; its domain is not a valid host name", address, ErrInvalidAddress)
	}
	return local, domain, nil
}

// cutLocalPart splits address after its local part, which must be a
// dot-atom or a quoted string (RFC 5322 sections 3.2.3 and 3.2.4, with the
// UTF-8 of RFC 6532). It returns the local part as written, quotes
// included, and what follows its "@". The caller has rejected spaces and
// control characters already.
func cutLocalPart(address string) (local, rest string, err error) {
	end := 0
	if strings.HasPrefix(address, `"`) {
		end = quotedStringEnd(address)
		if end < 0 {
			return "", "", errors.New("its quoted local part has no closing quote")
		}
	} else {
		for end < len(address) && address[end] != '@' {
			end++
		}
		if err := checkDotAtom(address[:end]); err != nil {
			return "", "", err
		}
	}

	if end == len(address) || address[end] != '@' {
		return "", "", errors.New(`it has no "@" after the local part`)
	}
	if end+1 == len(address) {
		return "", "", errors.New(`it has no domain after the "@"`)
	}
	return address[:end], address[end+1:], nil
}

// quotedStringEnd returns the index after the closing quote of the quoted
// string at the start of s, or -1 when it is not closed. A backslash
// quotes the character after it.
func quotedStringEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// checkDotAtom returns an error unless s is a dot-atom: runs of atext,
// which includes every non-ASCII character, joined by single dots.
func checkDotAtom(s string) error {
	if s == "" {
		return errors.New("its local part is empty")
	}
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return errors.New("its local part starts or ends with a dot or has two dots in a row, which only a quoted local part may")
	}
	for _, r := range s {
		if r != '.' && r < utf8.RuneSelf && !isAtext(byte(r)) {
			return fmt.Errorf("its local part contains %q, which only a quoted local part may", r)
		}
	}
	return nil
}

// isAtext reports whether the ASCII character c is atext (RFC 5322 section
// 3.2.3).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
