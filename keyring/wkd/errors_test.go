package wkd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/wkdtest"
	"github.com/sealmail/sealmail/keyring/wkd"
)

// checkMessage fails t unless the message of err contains every part.
func checkMessage(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Lookup succeeded, want an error")
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

func TestLookupExpiredCertificateMessage(t *testing.T) {
	d := newDirectory(t)
	d.publish(t, d.advanced, testKey)
	client := d.client()
	// The test certificates are valid for a day, so two days from now
	// they have expired.
	client.Transport.(*http.Transport).TLSClientConfig.Time = func() time.Time { return time.Now().Add(48 * time.Hour) }

	_, err := wkd.Lookup(context.Background(), client, testAddress)
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("error = %v, want an expired certificate", err)
	}
	checkMessage(t, err, "the certificate of openpgpkey.example.org has expired", "check the clock", "renew the certificate")
}

func TestLookupWrongCertificateNameMessage(t *testing.T) {
	ca, err := wkdtest.NewCA("Test WKD CA")
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectoryWithCert(t, ca, ca, "openpgpkey.example.net", "example.net")

	_, err = wkd.Lookup(context.Background(), d.client(), testAddress)
	checkMessage(t, err, "the server that responded for openpgpkey.example.org has a certificate for another name",
		"openpgpkey.example.net", "fix the certificate or the DNS record")
}

// clientFor returns the client of wkd.NewClient, connecting to server for
// every host and trusting ca.
func clientFor(server *httptest.Server, ca *wkdtest.CA) *http.Client {
	client := wkd.NewClient()
	transport := client.Transport.(*http.Transport)
	transport.Proxy = nil
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, network, server.Listener.Addr().String())
	}
	if ca != nil {
		transport.TLSClientConfig.RootCAs = ca.Pool()
	}
	return client
}

func TestLookupTLS11ServerMessage(t *testing.T) {
	ca, err := wkdtest.NewCA("Test WKD CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("openpgpkey.example.org")
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(testKey)
	}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}
	server.StartTLS()
	t.Cleanup(server.Close)

	_, err = wkd.Lookup(context.Background(), clientFor(server, ca), testAddress)
	checkMessage(t, err, "the server of openpgpkey.example.org does not offer TLS 1.2 or later", "enable TLS 1.2 or 1.3")
}

func TestLookupPlainHTTPServerMessage(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(testKey)
	}))
	t.Cleanup(server.Close)

	_, err := wkd.Lookup(context.Background(), clientFor(server, nil), testAddress)
	checkMessage(t, err, "the server of openpgpkey.example.org responded in plain HTTP", "serve the directory by HTTPS")
}

func TestLookupSlowBodyMessage(t *testing.T) {
	t.Cleanup(wkd.SetRequestTimeout(time.Second))
	d := newDirectory(t)
	d.route(t, d.advanced, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write(testKey[:4])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})

	_, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
	checkMessage(t, err, "timed out: the server of openpgpkey.example.org did not send the whole response within 1s, the limit for each request",
		"try again later")
}

// TestLookupCallerDeadlineNotExplained checks that the deadline of the
// caller's context is reported as it is, not as the limit of a request.
func TestLookupCallerDeadlineNotExplained(t *testing.T) {
	d := newDirectory(t)
	d.route(t, d.advanced, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	_, err := wkd.Lookup(ctx, d.client(), testAddress)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), "limit for each request") {
		t.Errorf("error %q blames the limit of a request for the caller's deadline", err)
	}
}

func TestLookupRedirectToHTTPMessage(t *testing.T) {
	d := newDirectory(t)
	plain := "http://example.org/keys/bob"
	d.route(t, d.advanced, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain, http.StatusFound)
	})

	_, err := wkd.Lookup(context.Background(), d.client(), testAddress)
	if !errors.Is(err, wkd.ErrInsecure) {
		t.Fatalf("error = %v, want ErrInsecure", err)
	}
	if n := strings.Count(err.Error(), plain); n != 1 {
		t.Errorf("error %q names %s %d times, want once", err, plain, n)
	}
	checkMessage(t, err, "(redirected to "+plain+")", "redirect to an HTTPS URL")
}
