package keyring

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"sort"
	"strings"
)

// oidEmailAddress is the PKCS #9 emailAddress attribute of a distinguished
// name (RFC 2985), which older certificates carry instead of an rfc822Name.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// subjectEmails returns the emailAddress attributes of the subject of cert.
func subjectEmails(cert *x509.Certificate) []string {
	var emails []string
	for _, attribute := range cert.Subject.Names {
		if !attribute.Type.Equal(oidEmailAddress) {
			continue
		}
		if email, ok := attribute.Value.(string); ok && email != "" {
			emails = append(emails, email)
		}
	}
	return emails
}

// certAddresses returns the sorted lowercase addresses of cert: its
// rfc822Name subjectAltNames, or the emailAddress attributes of its subject
// when it has none. RFC 8550 section 3 puts addresses in subjectAltName and
// keeps the emailAddress attribute for older certificates only.
func certAddresses(cert *x509.Certificate) []string {
	emails := cert.EmailAddresses
	if len(emails) == 0 {
		emails = subjectEmails(cert)
	}

	seen := make(map[string]bool)
	list := []string{}
	for _, email := range emails {
		address := strings.ToLower(email)
		if !seen[address] {
			seen[address] = true
			list = append(list, address)
		}
	}
	sort.Strings(list)
	return list
}

// certUserIDs returns the names of cert that List shows: the common name of
// its subject, then its rfc822Name subjectAltNames.
func certUserIDs(cert *x509.Certificate) []string {
	names := []string{}
	if cert.Subject.CommonName != "" {
		names = append(names, cert.Subject.CommonName)
	}
	return append(names, cert.EmailAddresses...)
}

// hasAddress reports whether the normalized address is one of the addresses
// of cert.
func hasAddress(cert *x509.Certificate, address string) bool {
	for _, candidate := range certAddresses(cert) {
		if normalizeAddress(candidate) == address {
			return true
		}
	}
	return false
}

// mentionsAddress reports whether the normalized address appears anywhere
// in cert where an address can be: in a subjectAltName or in the subject.
func mentionsAddress(cert *x509.Certificate, address string) bool {
	if hasAddress(cert, address) {
		return true
	}
	for _, email := range subjectEmails(cert) {
		if normalizeAddress(email) == address {
			return true
		}
	}
	return false
}

// checkAddress returns an error unless address is an address of cert,
// compared as normalizeAddress does.
func checkAddress(cert *x509.Certificate, address string) error {
	want := normalizeAddress(address)
	if hasAddress(cert, want) {
		return nil
	}
	if mentionsAddress(cert, want) {
		return fmt.Errorf("%q is only in the emailAddress attribute of its subject, which does not count when it has rfc822Name subject alternative names", address)
	}
	addresses := certAddresses(cert)
	if len(addresses) == 0 {
		return fmt.Errorf("it contains no email address, so it cannot be used for %q", address)
	}
	return fmt.Errorf("it is issued for %s, not for %q", strings.Join(addresses, ", "), address)
}
