package keyring

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// crlServer serves a CRL at /ca.crl on 127.0.0.1 and counts the requests.
type crlServer struct {
	server   *httptest.Server
	url      string
	crl      atomic.Pointer[[]byte]
	requests atomic.Int32
	// onRequest, when set, runs at each request before the CRL is sent.
	onRequest atomic.Pointer[func(*http.Request)]
}

// newCRLServer starts a crlServer that the test stops, with no CRL yet.
func newCRLServer(t *testing.T) *crlServer {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	s := &crlServer{url: "http://" + listener.Addr().String() + "/ca.crl"}
	s.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if onRequest := s.onRequest.Load(); onRequest != nil {
			(*onRequest)(r)
		}
		crl := s.crl.Load()
		if r.URL.Path != "/ca.crl" || crl == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(*crl)
	}))
	s.server.Listener.Close()
	s.server.Listener = listener
	s.server.Start()
	t.Cleanup(s.server.Close)
	return s
}

// serve makes s send crl from now on.
func (s *crlServer) serve(crl []byte) { s.crl.Store(&crl) }

// gencrl makes a DER CRL of the certificates revoked in the database of ca,
// signed by signer, "intermediate" or "root", with the validity arguments of
// "openssl ca", such as "-crldays", "30".
func (ca *testCA) gencrl(signer string, validity ...string) []byte {
	ca.t.Helper()
	out := ca.path("ca.crl.pem")
	args := []string{"ca", "-gencrl", "-config", ca.path("ca.cnf"),
		"-cert", ca.path(signer + ".pem"), "-keyfile", ca.path(signer + ".key"), "-out", out}
	ca.run(append(args, validity...)...)
	return ca.run("crl", "-in", out, "-outform", "DER")
}

// revoke marks the certificate at certPath as revoked in the database of ca.
func (ca *testCA) revoke(certPath string) {
	ca.t.Helper()
	ca.run("ca", "-config", ca.path("ca.cnf"), "-cert", ca.interPEM,
		"-keyfile", ca.path("intermediate.key"), "-revoke", certPath)
}

// issueWithCRL issues an S/MIME certificate for address whose CRL
// distribution point is url, imports it into k and returns its path.
func issueWithCRL(t *testing.T, ca *testCA, k *Keyring, name, address, url string) string {
	t.Helper()
	spec := leafSpec(name, address, "ec:P-256")
	spec.crlURL = url
	certPath, _ := ca.issue(spec)
	importBytes(t, k, readFile(t, certPath))
	return certPath
}

// newCRLTest returns a test CA, a keyring that trusts it, and a CRL server
// with no CRL yet.
func newCRLTest(t *testing.T) (*testCA, *Keyring, *crlServer) {
	t.Helper()
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)
	return ca, k, newCRLServer(t)
}

// warningRecorder collects the warnings of a CertPolicy.
type warningRecorder struct{ messages []string }

func (w *warningRecorder) warn(msg string) { w.messages = append(w.messages, msg) }

// wantCertStatus checks that err is a *CertError of status and returns it.
func wantCertStatus(t *testing.T, err error, status Status) *CertError {
	t.Helper()
	var certErr *CertError
	if !errors.As(err, &certErr) {
		t.Fatalf("error = %v, want a *CertError of status %q", err, status)
	}
	if certErr.Status != status {
		t.Fatalf("status = %q, want %q; error: %v", certErr.Status, status, err)
	}
	return certErr
}

func TestCRLGoodCertificateCached(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	crl := ca.gencrl("intermediate", "-crldays", "30")
	server.serve(crl)
	policy := CertPolicy{RequireRevocationCheck: true}

	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), policy); err != nil {
		t.Fatalf("RecipientCertificate: %v", err)
	}
	if got := server.requests.Load(); got != 1 {
		t.Errorf("requests after the first lookup = %d, want 1", got)
	}
	cached, err := os.ReadFile(k.crlPath(server.url))
	if err != nil {
		t.Fatalf("cached CRL: %v", err)
	}
	if !bytes.Equal(cached, crl) {
		t.Error("the cached CRL is not the CRL the server sent")
	}

	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), policy); err != nil {
		t.Fatalf("second RecipientCertificate: %v", err)
	}
	if got := server.requests.Load(); got != 1 {
		t.Errorf("requests after the second lookup = %d, want 1", got)
	}
}

func TestCRLRevokedCertificate(t *testing.T) {
	ca, k, server := newCRLTest(t)
	alicePath := issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	issueWithCRL(t, ca, k, "bob", "bob@example.org", server.url)
	before := time.Now().Add(-time.Second)
	ca.revoke(alicePath)
	server.serve(ca.gencrl("intermediate", "-crldays", "30"))

	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	certErr := wantCertStatus(t, err, StatusRevoked)
	if certErr.Revoked.Before(before) || certErr.Revoked.After(time.Now().Add(time.Second)) {
		t.Errorf("revocation date = %s, want the time of the revocation, after %s", certErr.Revoked, before)
	}
	if !strings.Contains(err.Error(), server.url) {
		t.Errorf("error %q does not name the CRL %q", err, server.url)
	}

	alice := readPEMCertificate(t, alicePath)
	_, err = k.VerifyCertificate(context.Background(), alice, nil, "", time.Now(), CertPolicy{}, UsageSigning)
	wantCertStatus(t, err, StatusRevoked)

	// Another certificate of the same CA passes with the same CRL.
	if _, err := k.RecipientCertificate(context.Background(), "bob@example.org", time.Now(), CertPolicy{}); err != nil {
		t.Errorf("RecipientCertificate of a certificate that is not revoked: %v", err)
	}
}

func TestCRLRevokedIdentity(t *testing.T) {
	ca, k, server := newCRLTest(t)
	spec := leafSpec("alice", "alice@example.org", "rsa:2048")
	spec.crlURL = server.url
	certPath, keyPath := ca.issue(spec)
	bundle := ca.pkcs12(certPath, keyPath, "s3cret", false)
	if _, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
		ImportOptions{Password: func() ([]byte, error) { return []byte("s3cret"), nil }}); err != nil {
		t.Fatal(err)
	}
	ca.revoke(certPath)
	server.serve(ca.gencrl("intermediate", "-crldays", "30"))

	_, err := k.SMIMEIdentity(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	wantCertStatus(t, err, StatusRevoked)
}

func TestCRLExpiredCacheFetchedAgain(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	server.serve(ca.gencrl("intermediate", "-crlhours", "1"))
	policy := CertPolicy{RequireRevocationCheck: true}
	now := time.Now()

	lookup := func(at time.Time, wantRequests int32) {
		t.Helper()
		if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", at, policy); err != nil {
			t.Fatalf("RecipientCertificate at %s: %v", at, err)
		}
		if got := server.requests.Load(); got != wantRequests {
			t.Errorf("requests after the lookup at %s = %d, want %d", at, got, wantRequests)
		}
	}
	lookup(now, 1)
	lookup(now.Add(30*time.Minute), 1)

	// The cached CRL expired an hour after it was made.
	fresh := ca.gencrl("intermediate", "-crldays", "30")
	server.serve(fresh)
	lookup(now.Add(2*time.Hour), 2)
	if cached := readFile(t, k.crlPath(server.url)); !bytes.Equal(cached, fresh) {
		t.Error("the cache does not hold the CRL fetched again")
	}
	lookup(now.Add(3*time.Hour), 2)
}

func TestCRLServerSendsExpiredCRL(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	server.serve(ca.gencrl("intermediate", "-crlhours", "1"))

	later := time.Now().Add(2 * time.Hour)
	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", later, CertPolicy{RequireRevocationCheck: true})
	wantCertStatus(t, err, StatusRevocationUnknown)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("error %q does not say that the CRL expired", err)
	}
}

func TestCRLServerDown(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	server.server.Close()

	var warnings warningRecorder
	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{Warn: warnings.warn})
	if err != nil {
		t.Fatalf("RecipientCertificate with the default policy: %v", err)
	}
	if len(warnings.messages) != 1 {
		t.Fatalf("warnings = %q, want one", warnings.messages)
	}
	if !strings.Contains(warnings.messages[0], server.url) {
		t.Errorf("warning %q does not name the CRL %q", warnings.messages[0], server.url)
	}

	// Without Warn, the default policy passes in silence.
	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{}); err != nil {
		t.Errorf("RecipientCertificate with the zero policy: %v", err)
	}

	_, err = k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{RequireRevocationCheck: true})
	wantCertStatus(t, err, StatusRevocationUnknown)
	if !strings.Contains(err.Error(), server.url) {
		t.Errorf("error %q does not name the CRL %q", err, server.url)
	}
}

func TestCRLOfAnotherCA(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	// The other CA has the same names, but other keys.
	other := newTestCA(t)

	tests := []struct {
		name, want string
		crl        []byte
	}{
		{"other key", "signature", other.gencrl("intermediate", "-crldays", "30")},
		{"other issuer", "indirect", ca.gencrl("root", "-crldays", "30")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server.serve(tt.crl)
			_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{RequireRevocationCheck: true})
			wantCertStatus(t, err, StatusRevocationUnknown)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if _, err := os.Stat(k.crlPath(server.url)); err == nil {
				t.Error("a CRL that does not verify was cached")
			}
		})
	}
}

func TestCRLOffline(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	server.serve(ca.gencrl("intermediate", "-crldays", "30"))
	offline := CertPolicy{RequireRevocationCheck: true, Offline: true}

	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), offline)
	wantCertStatus(t, err, StatusRevocationUnknown)
	if got := server.requests.Load(); got != 0 {
		t.Errorf("requests of an offline lookup = %d, want 0", got)
	}

	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{}); err != nil {
		t.Fatalf("RecipientCertificate online: %v", err)
	}
	server.server.Close()
	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), offline); err != nil {
		t.Errorf("RecipientCertificate offline with a cached CRL: %v", err)
	}
	if got := server.requests.Load(); got != 1 {
		t.Errorf("requests = %d, want only the online one", got)
	}

	// Offline, an expired cached CRL is not fetched again.
	_, err = k.RecipientCertificate(context.Background(), "alice@example.org", time.Now().Add(60*24*time.Hour), offline)
	wantCertStatus(t, err, StatusRevocationUnknown)
}

func TestCRLRevokedInExpiredCache(t *testing.T) {
	ca, k, server := newCRLTest(t)
	alicePath := issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	ca.revoke(alicePath)
	server.serve(ca.gencrl("intermediate", "-crlhours", "1"))
	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	wantCertStatus(t, err, StatusRevoked)

	// The CRL has expired and cannot be fetched, but its revocation holds
	// even with the default policy.
	server.server.Close()
	_, err = k.RecipientCertificate(context.Background(), "alice@example.org", time.Now().Add(2*time.Hour), CertPolicy{})
	wantCertStatus(t, err, StatusRevoked)
}

func TestCRLOlderThanCacheRejected(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	older := ca.gencrl("intermediate", "-crlhours", "1")
	// ThisUpdate counts whole seconds.
	time.Sleep(1100 * time.Millisecond)
	server.serve(ca.gencrl("intermediate", "-crlhours", "1"))
	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{}); err != nil {
		t.Fatalf("RecipientCertificate: %v", err)
	}

	server.serve(older)
	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now().Add(2*time.Hour), CertPolicy{RequireRevocationCheck: true})
	wantCertStatus(t, err, StatusRevocationUnknown)
	if !strings.Contains(err.Error(), "older than the cached CRL") {
		t.Errorf("error %q does not say that the CRL is older than the cached one", err)
	}
}

func TestCRLDistributionPointNotHTTP(t *testing.T) {
	ca, k, _ := newCRLTest(t)
	// The URL is never contacted, because only http:// and https:// are.
	url := "ldap://127.0.0.1/cn=Sealmail%20Test%20Intermediate?certificateRevocationList"
	issueWithCRL(t, ca, k, "alice", "alice@example.org", url)

	var warnings warningRecorder
	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{Warn: warnings.warn}); err != nil {
		t.Fatalf("RecipientCertificate with the default policy: %v", err)
	}
	if len(warnings.messages) != 1 || !strings.Contains(warnings.messages[0], "ldap://") {
		t.Errorf("warnings = %q, want one that names the ldap:// distribution point", warnings.messages)
	}

	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{RequireRevocationCheck: true})
	wantCertStatus(t, err, StatusRevocationUnknown)
}

func TestCRLNoDistributionPoint(t *testing.T) {
	ca, k, server := newCRLTest(t)
	certPath, _ := ca.issue(leafSpec("alice", "alice@example.org", "ec:P-256"))
	importBytes(t, k, readFile(t, certPath))

	var warnings warningRecorder
	policy := CertPolicy{RequireRevocationCheck: true, Warn: warnings.warn}
	if _, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), policy); err != nil {
		t.Fatalf("RecipientCertificate: %v", err)
	}
	if len(warnings.messages) != 0 || server.requests.Load() != 0 {
		t.Errorf("warnings = %q and %d requests, want none", warnings.messages, server.requests.Load())
	}
}

func TestCRLFetchHonoursContext(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAndWait := func(r *http.Request) {
		cancel()
		<-r.Context().Done()
	}
	server.onRequest.Store(&cancelAndWait)

	_, err := k.RecipientCertificate(ctx, "alice@example.org", time.Now(), CertPolicy{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	var certErr *CertError
	if errors.As(err, &certErr) {
		t.Errorf("error is a *CertError of status %q, want the error of the context only", certErr.Status)
	}
}

func TestListUsesCachedCRLOnly(t *testing.T) {
	ca, k, server := newCRLTest(t)
	alicePath := issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)
	ca.revoke(alicePath)
	server.serve(ca.gencrl("intermediate", "-crldays", "30"))
	alice := certFingerprint(readPEMCertificate(t, alicePath))

	status := func() Status {
		t.Helper()
		entries, err := k.List(context.Background(), time.Now())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, entry := range entries {
			if entry.Fingerprint == alice {
				return entry.Status
			}
		}
		t.Fatal("List has no entry for the certificate")
		return ""
	}

	if got := status(); got != StatusValid {
		t.Errorf("List status before the CRL is cached = %q, want %q", got, StatusValid)
	}
	if got := server.requests.Load(); got != 0 {
		t.Errorf("requests of List = %d, want 0", got)
	}
	_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{})
	wantCertStatus(t, err, StatusRevoked)
	if got := status(); got != StatusRevoked {
		t.Errorf("List status with the CRL cached = %q, want %q", got, StatusRevoked)
	}
}

func TestCRLFetchFailures(t *testing.T) {
	ca, k, server := newCRLTest(t)
	issueWithCRL(t, ca, k, "alice", "alice@example.org", server.url)

	tests := []struct {
		name, want string
		crl        []byte // nil serves 404 Not Found
	}{
		{"not found", "404", nil},
		{"too large", "larger than the maximum", make([]byte, maxCRLSize+1)},
		{"not a CRL", "invalid CRL", []byte("<html>captive portal</html>")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.crl == nil {
				server.crl.Store(nil)
			} else {
				server.serve(tt.crl)
			}
			_, err := k.RecipientCertificate(context.Background(), "alice@example.org", time.Now(), CertPolicy{RequireRevocationCheck: true})
			wantCertStatus(t, err, StatusRevocationUnknown)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
