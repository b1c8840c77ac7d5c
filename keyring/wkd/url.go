package wkd

import (
	"crypto/sha1"
	"encoding/base32"
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
// An address that is not of the bare form local@domain, or whose domain is
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
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 {
		return "", "", fmt.Errorf("invalid address %q: %w; use the bare form user@example.org", address, ErrInvalidAddress)
	}
	local = address[:at]
	if !utf8.ValidString(local) {
		return "", "", fmt.Errorf("invalid address %q: %w; its local part is not valid UTF-8", address, ErrInvalidAddress)
	}
	for _, r := range local {
		if r <= ' ' || r == 0x7f {
			return "", "", fmt.Errorf("invalid address %q: %w; its local part contains a space or a control character", address, ErrInvalidAddress)
		}
	}

	// The lookup profile maps the domain to lowercase and rejects anything
	// that is not a host name, such as "[192.0.2.1]" or "example.org:443",
	// so the domain cannot move the request to another host or port.
	domain, err = idna.Lookup.ToASCII(address[at+1:])
	if err != nil {
		return "", "", fmt.Errorf("invalid address %q: %w; its domain is not a valid host name: %v", address, ErrInvalidAddress, err)
	}
	if domain == "" || strings.HasSuffix(domain, ".") {
		return "", "", fmt.Errorf("invalid address %q: %w; its domain is not a valid host name", address, ErrInvalidAddress)
	}
	return local, domain, nil
}
