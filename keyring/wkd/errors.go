package wkd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// explainError wraps err, an error of a request to host, in a message that
// states its cause in plain words and what to do next, for the certificate, TLS
// and timeout errors whose text from Go names only the cause. elapsed is
// the time since the request started. deadline reports whether the
// requestTimeout of the request has passed. Other errors are returned as
// they are.
func explainError(err error, host string, elapsed time.Duration, deadline bool) error {
	var unknownAuthority x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var recordHeader tls.RecordHeaderError
	var netErr net.Error

	switch {
	case errors.As(err, &unknownAuthority):
		return fmt.Errorf("the certificate of %s was not issued by a certificate authority that the client trusts, so the server cannot be trusted to serve keys; "+
			"check that %s is the right server, and ask its administrator to use a certificate from a public certificate authority: %w", host, host, err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("the certificate of %s has expired or is not valid yet, so the server cannot be trusted to serve keys; "+
			"check the clock of this computer, and if it is right, ask the administrator of %s to renew the certificate: %w", host, host, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the certificate of %s is invalid, so the server cannot be trusted to serve keys; ask the administrator of %s to replace it: %w", host, host, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("the server that responded for %s has a certificate for another name, so it may be an impostor or misconfigured; "+
			"ask the administrator of the domain to fix the certificate or the DNS record of %s: %w", host, host, err)
	case isProtocolVersionError(err):
		return fmt.Errorf("the server of %s does not offer TLS 1.2 or later, which a lookup requires; ask its administrator to enable TLS 1.2 or 1.3: %w", host, err)
	case errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &recordHeader):
		return fmt.Errorf("the server of %s responded in plain HTTP or another protocol where HTTPS was expected, and a key must come over HTTPS; "+
			"ask its administrator to serve the directory by HTTPS on port 443: %w", host, err)
	case deadline:
		return fmt.Errorf("timed out: the server of %s did not send the whole response within %s, the limit for each request; it may be slow or overloaded, so try again later: %w",
			host, requestTimeout, err)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("timed out after %s: the server of %s did not respond in time; it may be down or overloaded, so try again later: %w",
			elapsed.Round(time.Second), host, err)
	}
	return err
}

// isProtocolVersionError reports whether err means that the server and
// the client share no TLS version. crypto/tls reports the alert of the
// server, and a server version below the client's minimum, only as text.
func isProtocolVersionError(err error) bool {
	text := err.Error()
	return strings.Contains(text, "tls: protocol version not supported") ||
		strings.Contains(text, "tls: server selected unsupported protocol version")
}

// hostOf returns the host name of rawURL, or rawURL when it has none.
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return rawURL
	}
	return u.Hostname()
}
