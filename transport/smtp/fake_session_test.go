package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/tlstest"
	"github.com/sealmail/sealmail/transport"
)

const (
	testUser     = "AKIAEXAMPLE"
	testPassword = "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"
	testMessage  = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Hi\r\n\r\nHello Bob.\r\n"
)

var testEnvelope = transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org", "carol@example.org"}}

// fakeTLS returns a server configuration with a certificate for 127.0.0.1
// and the pool that trusts it.
func fakeTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	ca := tlstest.NewCA(t, "sealmail test CA")
	cert := ca.Issue(t, "127.0.0.1")
	return &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, ca.Pool
}

// newFakeTransport makes a transport to f in mode, with the test
// credentials when auth is true.
func newFakeTransport(t *testing.T, f *fakeServer, mode TLSMode, pool *x509.CertPool, auth bool) *Transport {
	t.Helper()
	opts := Options{
		Host:           "127.0.0.1",
		Port:           f.port(t),
		TLS:            mode,
		HELOName:       "client.example.org",
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
		RootCAs:        pool,
	}
	if auth {
		opts.Username, opts.Password = testUser, testPassword
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// sendError sends the test message and returns the *SendError it fails
// with, failing the test when it succeeds or fails otherwise.
func sendError(t *testing.T, tr *Transport) *SendError {
	t.Helper()
	_, err := tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage))
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	t.Logf("Send: %v", err)
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error contains the password: %v", err)
	}
	var sendErr *SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return sendErr
}

func TestFakeOnlyEHLOAndSTARTTLSBeforeTLS(t *testing.T) {
	config, pool := fakeTLS(t)
	// A server that offers AUTH in clear text too, which the client must
	// not use.
	f := startFake(t, &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN LOGIN", authBeforeTLS: true})
	tr := newFakeTransport(t, f, StartTLS, pool, true)

	id, err := tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage))
	if err != nil {
		t.Fatal(err)
	}
	if id != "0100018f-fake-queue-id-000000" {
		t.Errorf("id = %q, want the queue ID of the reply", id)
	}

	commands := f.Commands()
	var clear []string
	for _, c := range commands {
		if !strings.HasPrefix(c, "tls ") {
			clear = append(clear, c)
		}
	}
	if want := []string{"EHLO localhost", "STARTTLS"}; !slices.Equal(clear, want) {
		t.Errorf("commands before TLS = %q, want %q", clear, want)
	}
	var after []string
	for _, c := range commands[len(clear):] {
		after = append(after, strings.TrimPrefix(c, "tls "))
	}
	// AUTH PLAIN carries the base64 credentials as its initial response.
	if len(after) > 1 && strings.HasPrefix(after[1], "AUTH PLAIN ") {
		after[1] = "AUTH PLAIN"
	}
	want := []string{"EHLO client.example.org", "AUTH PLAIN", "MAIL FROM:<alice@example.org> BODY=8BITMIME", "RCPT TO:<bob@example.org>", "RCPT TO:<carol@example.org>", "DATA", "<data>", "QUIT"}
	if !slices.Equal(after, want) {
		t.Errorf("commands after TLS = %q, want %q", after, want)
	}
}

func TestFakeLoginWhenPlainMissing(t *testing.T) {
	config, pool := fakeTLS(t)
	f := startFake(t, &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "LOGIN CRAM-MD5"})
	tr := newFakeTransport(t, f, StartTLS, pool, true)

	if _, err := tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.Commands(), "tls AUTH LOGIN") {
		t.Errorf("no AUTH LOGIN after TLS in %q", f.Commands())
	}
}

func TestFakeAuthNotOffered(t *testing.T) {
	config, pool := fakeTLS(t)
	f := startFake(t, &fakeServer{tlsConfig: config, offerSTARTTLS: true})
	tr := newFakeTransport(t, f, StartTLS, pool, true)

	e := sendError(t, tr)
	if !strings.Contains(e.Error(), "does not offer AUTH") {
		t.Errorf("error %q does not say that AUTH is missing", e)
	}
	assertNothingSent(t, f)
}

func TestFakeNoSTARTTLS(t *testing.T) {
	config, pool := fakeTLS(t)
	f := startFake(t, &fakeServer{tlsConfig: config, auth: "PLAIN", authBeforeTLS: true})
	tr := newFakeTransport(t, f, StartTLS, pool, true)

	e := sendError(t, tr)
	if !strings.Contains(e.Error(), "does not offer STARTTLS") {
		t.Errorf("error %q does not say that STARTTLS is missing", e)
	}
	if e.Temporary() {
		t.Error("Temporary() = true for a server without STARTTLS")
	}
	if want := []string{"EHLO localhost"}; !slices.Equal(f.Commands(), want) {
		t.Errorf("commands = %q, want only %q", f.Commands(), want)
	}
}

func TestFakeTLS11Refused(t *testing.T) {
	for _, mode := range []TLSMode{StartTLS, ImplicitTLS} {
		t.Run(string(mode), func(t *testing.T) {
			config, pool := fakeTLS(t)
			config.MinVersion = tls.VersionTLS10
			config.MaxVersion = tls.VersionTLS11
			f := startFake(t, &fakeServer{tlsConfig: config, implicit: mode == ImplicitTLS, offerSTARTTLS: true, auth: "PLAIN"})
			tr := newFakeTransport(t, f, mode, pool, true)

			e := sendError(t, tr)
			if !strings.Contains(e.Error(), "TLS 1.2") {
				t.Errorf("error %q does not name the TLS 1.2 minimum", e)
			}
			assertNothingSent(t, f)
		})
	}
}

func TestFakeUntrustedCertificate(t *testing.T) {
	config, _ := fakeTLS(t)
	_, otherPool := fakeTLS(t)
	f := startFake(t, &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN"})
	tr := newFakeTransport(t, f, StartTLS, otherPool, true)

	e := sendError(t, tr)
	if !strings.Contains(e.Error(), "certificate is not valid") {
		t.Errorf("error %q does not say that the certificate is invalid", e)
	}
	assertNothingSent(t, f)
}

func TestFakeReplyClassification(t *testing.T) {
	tests := []struct {
		name          string
		replies       map[string]string
		dropAfterData bool
		command       string
		code          int
		temporary     bool
		throttled     bool
		uncertain     bool
		refused       []string
		wantInMessage string
	}{
		{name: "421 at MAIL", replies: map[string]string{"MAIL": "421 4.3.0 Service shutting down"},
			command: "MAIL FROM", code: 421, temporary: true, wantInMessage: "421 4.3.0 Service shutting down"},
		{name: "454 throttling", replies: map[string]string{"MAIL": "454 Throttling failure: Maximum sending rate exceeded."},
			command: "MAIL FROM", code: 454, temporary: true, throttled: true, wantInMessage: "try again later"},
		{name: "451 after data", replies: map[string]string{"END": "451 4.3.0 Local error"},
			command: "end of DATA", code: 451, temporary: true},
		{name: "535 wrong password", replies: map[string]string{"AUTH": "535 Authentication Credentials Invalid"},
			command: "AUTH", code: 535, wantInMessage: "sealmail smtp-password"},
		{name: "554 rejected", replies: map[string]string{"END": "554 Message rejected: Email address is not verified."},
			command: "end of DATA", code: 554, wantInMessage: "Email address is not verified"},
		{name: "550 one recipient", replies: map[string]string{"RCPT TO:<carol@example.org>": "550 5.1.1 User unknown"},
			command: "RCPT TO", refused: []string{"carol@example.org"}, wantInMessage: "carol@example.org (550 5.1.1 User unknown)"},
		{name: "452 recipients", replies: map[string]string{"RCPT": "452 4.5.3 Too many recipients"},
			command: "RCPT TO", temporary: true, refused: []string{"bob@example.org", "carol@example.org"}},
		{name: "dropped after data", dropAfterData: true,
			command: "end of DATA", uncertain: true, wantInMessage: "may have accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config, pool := fakeTLS(t)
			f := startFake(t, &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: tt.replies, dropAfterData: tt.dropAfterData})
			tr := newFakeTransport(t, f, StartTLS, pool, true)

			e := sendError(t, tr)
			if e.Command != tt.command {
				t.Errorf("Command = %q, want %q", e.Command, tt.command)
			}
			if e.Reply.Code != tt.code {
				t.Errorf("Reply.Code = %d, want %d", e.Reply.Code, tt.code)
			}
			if e.Temporary() != tt.temporary {
				t.Errorf("Temporary() = %v, want %v", e.Temporary(), tt.temporary)
			}
			if e.Throttled != tt.throttled {
				t.Errorf("Throttled = %v, want %v", e.Throttled, tt.throttled)
			}
			if e.Uncertain != tt.uncertain {
				t.Errorf("Uncertain = %v, want %v", e.Uncertain, tt.uncertain)
			}
			var refused []string
			for _, r := range e.Refused {
				refused = append(refused, r.Address)
			}
			if !slices.Equal(refused, tt.refused) {
				t.Errorf("Refused = %q, want %q", refused, tt.refused)
			}
			if !strings.Contains(e.Error(), tt.wantInMessage) {
				t.Errorf("error %q does not contain %q", e, tt.wantInMessage)
			}
			if len(tt.refused) > 0 {
				if !slices.Contains(f.Commands(), "tls RSET") || slices.Contains(f.Commands(), "tls DATA") {
					t.Errorf("after a refused recipient the client sent %q, want RSET and no DATA", f.Commands())
				}
			}
			if len(f.Messages()) != 0 {
				t.Errorf("the server accepted %d messages, want none", len(f.Messages()))
			}
		})
	}
}

func TestFakeSetupFailed(t *testing.T) {
	tests := []struct {
		name string
		// server returns the fake server and the pool the client trusts.
		server    func(t *testing.T) (*fakeServer, *x509.CertPool)
		setup     bool
		temporary bool
	}{
		{name: "no STARTTLS", setup: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, auth: "PLAIN", authBeforeTLS: true}, pool
		}},
		{name: "untrusted certificate", setup: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, _ := fakeTLS(t)
			_, other := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN"}, other
		}},
		{name: "AUTH not offered", setup: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true}, pool
		}},
		{name: "535 wrong password", setup: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: map[string]string{"AUTH": "535 Authentication Credentials Invalid"}}, pool
		}},
		{name: "530 at MAIL", setup: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: map[string]string{"MAIL": "530 5.7.0 Authentication required"}}, pool
		}},
		{name: "421 to EHLO", setup: true, temporary: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: map[string]string{"EHLO": "421 4.3.2 Service not available"}}, pool
		}},
		{name: "421 at MAIL", temporary: true, server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: map[string]string{"MAIL": "421 4.3.0 Service shutting down"}}, pool
		}},
		{name: "554 after data", server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: map[string]string{"END": "554 Message rejected"}}, pool
		}},
		{name: "550 recipient", server: func(t *testing.T) (*fakeServer, *x509.CertPool) {
			config, pool := fakeTLS(t)
			return &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN", replies: map[string]string{"RCPT": "550 5.1.1 User unknown"}}, pool
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, pool := tt.server(t)
			tr := newFakeTransport(t, startFake(t, f), StartTLS, pool, true)

			e := sendError(t, tr)
			if e.Setup != tt.setup {
				t.Errorf("Setup = %v, want %v", e.Setup, tt.setup)
			}
			if transport.SetupFailed(fmt.Errorf("wrapped: %w", e)) != tt.setup {
				t.Errorf("transport.SetupFailed of the wrapped error = %v, want %v", !tt.setup, tt.setup)
			}
			if e.Temporary() != tt.temporary {
				t.Errorf("Temporary() = %v, want %v", e.Temporary(), tt.temporary)
			}
		})
	}
}

func TestConnectionRefusedSetupFailed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tr, err := New(Options{Host: "127.0.0.1", Port: port, TLS: StartTLS, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	e := sendError(t, tr)
	if !e.Setup || !e.Temporary() {
		t.Errorf("Setup = %v, Temporary() = %v, want both for a refused connection", e.Setup, e.Temporary())
	}
}

func TestWrongPasswordErrorForUsers(t *testing.T) {
	e := &SendError{Addr: "mail.example.org:587", Command: "AUTH",
		Reply: Reply{Code: 535, Message: "Authentication Credentials Invalid"}}
	msg := e.Error()

	if !strings.Contains(msg, `"sealmail smtp-password --region REGION"`) {
		t.Errorf("error %q does not name the command that derives the SES SMTP password", msg)
	}
	if !strings.Contains(msg, "access key ID") {
		t.Errorf("error %q does not say that the user name is the access key ID", msg)
	}
	if strings.Contains(msg, "SESPassword") || strings.Contains(msg, "smtp.") {
		t.Errorf("error %q names a Go function, which users of the command line do not know", msg)
	}
}

func TestFakeCancelledContext(t *testing.T) {
	config, pool := fakeTLS(t)
	f := startFake(t, &fakeServer{tlsConfig: config, offerSTARTTLS: true, auth: "PLAIN"})
	tr := newFakeTransport(t, f, StartTLS, pool, true)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tr.Send(ctx, testEnvelope, strings.NewReader(testMessage))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

// assertNothingSent fails the test when the client sent AUTH or MAIL FROM.
func assertNothingSent(t *testing.T, f *fakeServer) {
	t.Helper()
	for _, c := range f.Commands() {
		if strings.Contains(c, "MAIL") || strings.Contains(c, "AUTH") {
			t.Errorf("the client sent %q, want nothing after the failed setup", c)
		}
	}
}
