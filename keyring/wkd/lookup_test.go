package wkd_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/wkdtest"
	"github.com/sealmail/sealmail/keyring/wkd"
)

const testAddress = "Bob+Mail@Example.org"

// testKey is a placeholder for a key, because Lookup returns the body as
// served without parsing it.
var testKey = []byte("\x99\x01\x0dnot really a key")

// directory is a Web Key Directory on 127.0.0.1 with a certificate for
// openpgpkey.example.org and example.org.
type directory struct {
	ca     *wkdtest.CA
	server *wkdtest.Server
	// advanced and direct are the URLs of testAddress.
	advanced, direct string
}

func newDirectory(t *testing.T) *directory {
	t.Helper()
	ca, err := wkdtest.NewCA("Test WKD CA")
	if err != nil {
		t.Fatal(err)
	}
	return newDirectoryWithCert(t, ca, ca, "openpgpkey.example.org", "example.org")
}

// newDirectoryWithCert starts a directory whose certificate issuer issued
// for names, and whose clients trust ca.
func newDirectoryWithCert(t *testing.T, ca, issuer *wkdtest.CA, names ...string) *directory {
	t.Helper()
	cert, err := issuer.Issue(names...)
	if err != nil {
		t.Fatal(err)
	}
	server := wkdtest.StartServer(cert)
	t.Cleanup(server.Close)

	advanced, direct, err := wkd.URLs(testAddress)
	if err != nil {
		t.Fatal(err)
	}
	return &directory{ca: ca, server: server, advanced: advanced, direct: direct}
}

// client returns the client of wkd.NewClient, changed to trust only the
// test CA and to connect to the directory for every host but missing.
func (d *directory) client(missing ...string) *http.Client {
	client := wkd.NewClient()
	transport := client.Transport.(*http.Transport)
	transport.Proxy = nil
	transport.DialContext = d.server.DialContext(missing...)
	transport.TLSClientConfig.RootCAs = d.ca.Pool()
	return client
}

func (d *directory) publish(t *testing.T, rawURL string, key []byte) {
	t.Helper()
	if err := d.server.Publish(rawURL, key); err != nil {
		t.Fatal(err)
	}
}

func (d *directory) route(t *testing.T, rawURL string, handler http.HandlerFunc) {
	t.Helper()
	if err := d.server.Route(rawURL, handler); err != nil {
		t.Fatal(err)
	}
}

// requested reports whether the directory got a request for rawURL.
func (d *directory) requested(rawURL string) bool {
	return slices.Contains(d.server.Requests(), rawURL)
}

func TestLookupAdvanced(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.advanced, testKey)
	d.publish(t, d.direct, []byte("the direct key must not be used"))

	result, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(result.Key, testKey) {
		t.Errorf("Key = %q, want %q", result.Key, testKey)
	}
	if result.URL != d.advanced {
		t.Errorf("URL = %q, want %q", result.URL, d.advanced)
	}
	if result.Method != wkd.MethodAdvanced {
		t.Errorf("Method = %q, want %q", result.Method, wkd.MethodAdvanced)
	}
	if got := d.server.Requests(); len(got) != 1 {
		t.Errorf("requests = %q, want the advanced URL alone", got)
	}
}

func TestLookupDirectWhenAdvancedHostMissing(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.direct, testKey)

	result, err := wkd.Lookup(context.Background(), d.client("openpgpkey.example.org"), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if result.Method != wkd.MethodDirect {
		t.Errorf("Method = %q, want %q", result.Method, wkd.MethodDirect)
	}
	if result.URL != d.direct {
		t.Errorf("URL = %q, want %q", result.URL, d.direct)
	}
	if !bytes.Equal(result.Key, testKey) {
		t.Errorf("Key = %q, want %q", result.Key, testKey)
	}
}

func TestLookupNotFound(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.direct, testKey)

	_, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if !errors.Is(err, wkd.ErrNotFound) {
		t.Fatalf("error = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), testAddress) || !strings.Contains(err.Error(), d.advanced) {
		t.Errorf("error %q does not name the address and the URL", err)
	}
	// The advanced host exists, so the direct method must not be tried.
	if d.requested(d.direct) {
		t.Error("the direct URL was requested although the advanced host exists")
	}
}

func TestLookupNotFoundDirect(t *testing.T) {
	d := newDirectory(t)

	_, err := wkd.Lookup(context.Background(), d.client("openpgpkey.example.org"), testAddress)
	if !errors.Is(err, wkd.ErrNotFound) {
		t.Fatalf("error = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), d.direct) {
		t.Errorf("error %q does not name the direct URL", err)
	}
}

func TestLookupServerErrorNoFallback(t *testing.T) {
	d := newDirectory(t)
	d.route(t, d.advanced, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	d.publish(t, d.direct, testKey)

	_, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if err == nil || errors.Is(err, wkd.ErrNotFound) {
		t.Fatalf("error = %v, want an HTTP status error", err)
	}
	if !strings.Contains(err.Error(), "500") {
		t.Errorf("error %q does not name the status", err)
	}
	if d.requested(d.direct) {
		t.Error("the direct URL was requested after the advanced host failed")
	}
}

func TestLookupUntrustedCA(t *testing.T) {
	trusted, err := wkdtest.NewCA("Trusted CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := wkdtest.NewCA("Other CA")
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectoryWithCert(t, trusted, other, "openpgpkey.example.org", "example.org")
	d.publish(t, d.advanced, testKey)

	result, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("error = %v, want x509.UnknownAuthorityError", err)
	}
	if errors.Is(err, wkd.ErrNotFound) {
		t.Error("a certificate error wraps ErrNotFound")
	}
	checkMessage(t, err, "the certificate of openpgpkey.example.org was not issued by a certificate authority that the client trusts",
		"ask its administrator")
	if result.Key != nil {
		t.Errorf("Key = %q, want none", result.Key)
	}
	if len(d.server.Requests()) != 0 {
		t.Errorf("the server got requests %q over an untrusted connection", d.server.Requests())
	}
}

func TestLookupWrongCertificateName(t *testing.T) {
	ca, err := wkdtest.NewCA("Test WKD CA")
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectoryWithCert(t, ca, ca, "openpgpkey.example.net", "example.net")
	d.publish(t, d.advanced, testKey)

	_, err = wkd.Lookup(context.Background(), d.client(), testAddress)
	var hostname x509.HostnameError
	if !errors.As(err, &hostname) {
		t.Fatalf("error = %v, want x509.HostnameError", err)
	}
}

// TestLookupSkippedVerification checks that a client that skips
// certificate verification gets no key.
func TestLookupSkippedVerification(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.advanced, testKey)
	client := d.client()
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}

	_, err := wkd.Lookup(context.Background(), client, testAddress)
	if !errors.Is(err, wkd.ErrInsecure) {
		t.Fatalf("error = %v, want ErrInsecure", err)
	}
}

func TestLookupRedirectToHTTPRejected(t *testing.T) {
	d := newDirectory(t)
	plain := "http://example.org/.well-known/openpgpkey/hu/" + wkd.Hash("bob+mail")
	d.route(t, d.advanced, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain, http.StatusFound)
	})

	_, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if !errors.Is(err, wkd.ErrInsecure) {
		t.Fatalf("error = %v, want ErrInsecure", err)
	}
	if !strings.Contains(err.Error(), plain) {
		t.Errorf("error %q does not name the rejected URL", err)
	}
	if got := d.server.Requests(); len(got) != 1 {
		t.Errorf("requests = %q, want the advanced URL alone", got)
	}
}

func TestLookupRedirectToHTTPS(t *testing.T) {
	d := newDirectory(t)
	moved := "https://example.org/keys/bob"
	d.route(t, d.advanced, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, moved, http.StatusMovedPermanently)
	})
	d.publish(t, moved, testKey)

	result, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if result.URL != moved {
		t.Errorf("URL = %q, want the redirect target %q", result.URL, moved)
	}
	if result.Method != wkd.MethodAdvanced {
		t.Errorf("Method = %q, want %q", result.Method, wkd.MethodAdvanced)
	}
}

func TestLookupTooLarge(t *testing.T) {
	huge := bytes.Repeat([]byte{0x99}, wkd.MaxKeySize+1)
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"content length", func(w http.ResponseWriter, r *http.Request) {
			w.Write(huge)
		}},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			// Flushing first leaves the length unknown.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			w.Write(huge)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirectory(t)
			d.route(t, d.advanced, tt.handler)

			result, err := wkd.Lookup(context.Background(), d.client(), testAddress)
			if !errors.Is(err, wkd.ErrTooLarge) {
				t.Fatalf("error = %v, want ErrTooLarge", err)
			}
			if result.Key != nil {
				t.Errorf("got %d bytes of key, want none", len(result.Key))
			}
		})
	}
}

func TestLookupMaxSizeAccepted(t *testing.T) {
	d := newDirectory(t)
	key := bytes.Repeat([]byte{0x99}, wkd.MaxKeySize)
	d.publish(t, d.advanced, key)

	result, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if len(result.Key) != wkd.MaxKeySize {
		t.Errorf("got %d bytes, want %d", len(result.Key), wkd.MaxKeySize)
	}
}

func TestLookupEmptyResponse(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.advanced, nil)

	_, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("error = %v, want one about an empty response", err)
	}
}

func TestLookupInvalidAddress(t *testing.T) {
	d := newDirectory(t)
	_, err := wkd.Lookup(context.Background(), d.client(), "bob@[127.0.0.1]")
	if !errors.Is(err, wkd.ErrInvalidAddress) {
		t.Fatalf("error = %v, want ErrInvalidAddress", err)
	}
	if got := d.server.Requests(); len(got) != 0 {
		t.Errorf("requests = %q, want none", got)
	}
}

func TestLookupCanceled(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.advanced, testKey)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := wkd.Lookup(ctx, d.client(), testAddress)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

// proxyClient returns the client of wkd.NewClient, sent through proxy and
// trusting only the test CA.
func proxyClient(t *testing.T, d *directory, proxy *wkdtest.Proxy) *http.Client {
	t.Helper()
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := wkd.NewClient()
	transport := client.Transport.(*http.Transport)
	transport.Proxy = http.ProxyURL(proxyURL)
	transport.TLSClientConfig.RootCAs = d.ca.Pool()
	return client
}

func TestLookupThroughProxy(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.advanced, testKey)
	proxy, err := wkdtest.StartProxy(d.server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	result, err := wkd.Lookup(context.Background(), proxyClient(t, d, proxy), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if result.Method != wkd.MethodAdvanced {
		t.Errorf("Method = %q, want %q", result.Method, wkd.MethodAdvanced)
	}
	if got := proxy.Requests(); !slices.Equal(got, []string{"openpgpkey.example.org:443"}) {
		t.Errorf("proxy got CONNECT requests %q, want openpgpkey.example.org:443", got)
	}
}

// TestLookupProxyRefusesAdvancedHost checks the fallback behind a proxy,
// which reports a name that does not resolve as 502 Bad Gateway.
func TestLookupProxyRefusesAdvancedHost(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.direct, testKey)
	proxy, err := wkdtest.StartProxy(d.server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Refuse("openpgpkey.example.org")

	result, err := wkd.Lookup(context.Background(), proxyClient(t, d, proxy), testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if result.Method != wkd.MethodDirect {
		t.Errorf("Method = %q, want %q", result.Method, wkd.MethodDirect)
	}
}
