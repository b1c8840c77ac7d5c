// Package wkd looks up OpenPGP keys by email address in a Web Key Directory,
// as section 3.1 ("Key Discovery") of draft-koch-openpgp-webkey-service
// describes.
//
// Lookup hashes the local part of the address (ASCII letters mapped to
// lowercase, SHA-1, z-base-32) and requests the key from the advanced URL
//
//	https://openpgpkey.DOMAIN/.well-known/openpgpkey/DOMAIN/hu/HASH?l=LOCAL
//
// and, only when the host openpgpkey.DOMAIN does not exist, from the direct
// URL
//
//	https://DOMAIN/.well-known/openpgpkey/hu/HASH?l=LOCAL
//
// The draft forbids the fallback when the advanced host exists but does not
// respond or returns an error, because the domain may delegate its
// directory to that host to keep the web server of DOMAIN out of it. So a
// 404 from the advanced host returns ErrNotFound without trying the direct
// URL, and a TLS or connection error fails the lookup.
//
// Every request is HTTPS with TLS 1.2 or later and a certificate that
// crypto/tls verified. A response without them, and a redirect to any
// other scheme, fails with ErrInsecure, whatever the http.Client allows. A
// key larger than MaxKeySize fails with ErrTooLarge. Certificate, TLS
// version and timeout errors are wrapped in an error that names the cause
// in plain words and what to do, and wraps the error of crypto/tls or
// crypto/x509 as it is.
//
// Redirects to HTTPS URLs on any host are followed, up to maxRedirects,
// and Result.URL records the final URL. Limiting them to the looked-up
// domain would protect against nothing: the redirect comes from a server
// that TLS authenticated as openpgpkey.DOMAIN or DOMAIN, which could serve
// any key itself, so the trust is the origin's either way. A domain may
// also delegate its directory to a hosting service on another domain. The
// caller still stores only the user IDs for the address (see below).
//
// The key is returned as served. The draft requires the binary form, but an
// armored key is returned too, and the caller decides what to accept. The
// caller must also check that the key has a user ID for the address, which
// the draft leaves to the client: keyring.ImportOptions.Address does that.
//
// Divergences from the draft:
//   - The policy file and the submission address are not requested, because
//     lookup does not need them.
//   - Behind an HTTP proxy, the proxy resolves the names, so a missing
//     advanced host cannot be distinguished from one that does not respond.
//     With the client of NewClient, a proxy that rejects the CONNECT
//     request to the advanced host with 502 Bad Gateway or 503 Service
//     Unavailable counts as a missing host, and the direct URL is tried.
//     Without that, no domain that publishes by the direct method alone
//     could be reached through a proxy.
package wkd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxKeySize is the largest key Lookup accepts, in bytes. Certificates with
// many signatures reach a few hundred KiB.
const MaxKeySize = 1 << 20

// requestTimeout bounds each of the at most two requests of Lookup, body
// included, also when the caller's http.Client sets no timeout. It is a
// variable so that tests can shorten it.
var requestTimeout = 30 * time.Second

// maxRedirects is the number of redirects Lookup follows per request, as
// many as http.Client follows by default.
const maxRedirects = 10

// The errors of Lookup that callers branch on. They are wrapped in an
// error that names the address and the URL.
var (
	// ErrNotFound means the directory returned 404 Not Found: it publishes
	// no key for the address.
	ErrNotFound = errors.New("no key is published for the address")
	// ErrInsecure means a response or a redirect was not HTTPS with TLS 1.2
	// or later and a verified certificate.
	ErrInsecure = errors.New("the directory must be reached by HTTPS with TLS 1.2 or later and a verified certificate")
	// ErrTooLarge means the key is larger than MaxKeySize.
	ErrTooLarge = fmt.Errorf("the key is larger than %d KiB", MaxKeySize>>10)
	// ErrInvalidAddress means the address cannot be looked up.
	ErrInvalidAddress = errors.New("not an email address that can be looked up")
)

// Method is the way of forming the URL that served a key.
type Method string

// The methods of section 3.1 of the draft.
const (
	MethodAdvanced Method = "advanced" // https://openpgpkey.DOMAIN/...
	MethodDirect   Method = "direct"   // https://DOMAIN/...
)

// Result is a key that Lookup found.
type Result struct {
	// Key is the response body: one or more OpenPGP keys, binary as the
	// draft requires, or armored when the server deviates.
	Key []byte
	// URL is the URL that served the key, after any redirects.
	URL string
	// Method is the method whose URL served the key.
	Method Method
}

// Lookup requests the key of address from its Web Key Directory, by the
// advanced method and, when the advanced host does not exist, by the
// direct method, as the package documentation describes.
//
// A nil client means the client of NewClient. A caller's client is used
// as it is, except that Lookup adds its own redirect check, so its
// transport decides the proxy and the trusted roots.
//
// The error wraps ErrNotFound when the directory has no key for the
// address. It wraps ErrInvalidAddress, ErrInsecure or ErrTooLarge as they
// describe, and network, TLS and certificate errors, with the cause in
// plain words for the common ones.
func Lookup(ctx context.Context, client *http.Client, address string) (Result, error) {
	advancedURL, directURL, err := URLs(address)
	if err != nil {
		return Result{}, err
	}
	if client == nil {
		client = NewClient()
	}
	client = withRedirectCheck(client)

	key, served, err := fetch(ctx, client, address, advancedURL)
	if err == nil {
		return Result{Key: key, URL: served, Method: MethodAdvanced}, nil
	}
	if !hostMissing(err) {
		return Result{}, err
	}

	key, served, err = fetch(ctx, client, address, directURL)
	if err != nil {
		return Result{}, err
	}
	return Result{Key: key, URL: served, Method: MethodDirect}, nil
}

// NewClient returns the HTTP client that Lookup uses when given none: TLS
// 1.2 or later, certificates verified against the system roots (on Linux,
// SSL_CERT_FILE and SSL_CERT_DIR replace them), the proxy of
// HTTPS_PROXY and NO_PROXY, and timeouts on every step. A program may
// change its transport, for example its RootCAs, before passing it to
// Lookup.
func NewClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		OnProxyConnectResponse: checkProxyConnect,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  20 * time.Second,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConns:           4,
		// A custom TLSClientConfig turns HTTP/2 off unless this is set.
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: transport, Timeout: requestTimeout}
}

// proxyConnectError is a proxy's rejection of a CONNECT request.
type proxyConnectError struct {
	host   string
	status string
	code   int
}

func (e *proxyConnectError) Error() string {
	return fmt.Sprintf("the proxy could not connect to %s: %s", e.host, e.status)
}

// checkProxyConnect turns a rejected CONNECT request into a
// proxyConnectError, so that hostMissing can read its status code.
// Otherwise the transport reports only the status text.
func checkProxyConnect(_ context.Context, _ *url.URL, req *http.Request, resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return &proxyConnectError{host: req.URL.Host, status: resp.Status, code: resp.StatusCode}
}

// hostMissing reports whether err means that the host of the request does
// not exist: the name has no address, or a proxy could not reach it.
func hostMissing(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}
	var proxyErr *proxyConnectError
	return errors.As(err, &proxyErr) &&
		(proxyErr.code == http.StatusBadGateway || proxyErr.code == http.StatusServiceUnavailable)
}

// withRedirectCheck returns a copy of client that follows only redirects
// to HTTPS URLs from verified HTTPS responses, and at most maxRedirects,
// before it applies the client's own redirect policy.
func withRedirectCheck(client *http.Client) *http.Client {
	checked := *client
	next := client.CheckRedirect
	checked.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			// client.Do wraps this error in a *url.Error with the target
			// URL, which the message of fetch names.
			return fmt.Errorf("the server redirected to a URL that is not HTTPS, so the key was not requested there: %w; the domain's administrator must redirect to an HTTPS URL", ErrInsecure)
		}
		if req.Response != nil {
			if err := checkTLS(req.Response.TLS); err != nil {
				return err
			}
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &checked
}

// checkTLS returns an error wrapping ErrInsecure unless state is a TLS 1.2
// or later connection whose certificate crypto/tls verified.
func checkTLS(state *tls.ConnectionState) error {
	switch {
	case state == nil:
		return fmt.Errorf("the response did not come over TLS: %w", ErrInsecure)
	case state.Version < tls.VersionTLS12:
		return fmt.Errorf("the response came over %s: %w", tls.VersionName(state.Version), ErrInsecure)
	case len(state.VerifiedChains) == 0:
		// crypto/tls leaves VerifiedChains empty when the client skips
		// verification, even if a VerifyPeerCertificate hook ran.
		return fmt.Errorf("the certificate of the server was not verified: %w", ErrInsecure)
	}
	return nil
}

// fetch requests rawURL and returns the body of a 200 response and the URL
// that served it.
func fetch(ctx context.Context, client *http.Client, address, rawURL string) (key []byte, served string, err error) {
	requestCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	started := time.Now()

	served = rawURL
	fail := func(err error) error {
		if served != rawURL {
			return fmt.Errorf("failed to look up the key of %q at %s (redirected to %s): %w", address, rawURL, served, err)
		}
		return fmt.Errorf("failed to look up the key of %q at %s: %w", address, rawURL, err)
	}
	// failRequest explains err, unless it came from the caller's context.
	failRequest := func(err error) error {
		if requestCtx.Err() == nil {
			err = explainError(err, hostOf(served), time.Since(started), ctx.Err() != nil)
		}
		return fail(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fail(err)
	}
	req.Header.Set("Accept", "application/octet-stream")

	resp, err := client.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			// The *url.Error adds only the method and the URL, which fail
			// names. Its URL differs after a redirect.
			served = urlErr.URL
			err = urlErr.Err
		}
		return nil, "", failRequest(err)
	}
	defer resp.Body.Close()
	served = resp.Request.URL.String()

	if err := checkTLS(resp.TLS); err != nil {
		return nil, "", fail(err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, "", fail(ErrNotFound)
	default:
		return nil, "", fail(fmt.Errorf("the server returned HTTP status %q", resp.Status))
	}

	if resp.ContentLength > MaxKeySize {
		return nil, "", fail(fmt.Errorf("%w (Content-Length %s)", ErrTooLarge, strconv.FormatInt(resp.ContentLength, 10)))
	}
	key, err = io.ReadAll(io.LimitReader(resp.Body, MaxKeySize+1))
	if err != nil {
		return nil, "", failRequest(fmt.Errorf("failed to read the response: %w", err))
	}
	if len(key) > MaxKeySize {
		return nil, "", fail(ErrTooLarge)
	}
	if len(key) == 0 {
		return nil, "", fail(errors.New("the server returned an empty response instead of a key"))
	}
	return key, served, nil
}
