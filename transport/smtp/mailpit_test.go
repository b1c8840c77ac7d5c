package smtp

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/mailpit"
	"github.com/sealmail/sealmail/internal/tlstest"
	"github.com/sealmail/sealmail/transport"
)

// dotMessage has lines that need dot-stuffing, to show that the bytes the
// server stores are the bytes given to Send.
const dotMessage = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Dots\r\nMessage-ID: <dots@example.org>\r\n\r\n.\r\n..two dots\r\n.leading dot\r\nend\r\n"

// startMailpit runs mailpit with TLS mode mode and, when it has TLS, the
// test credentials, and returns it with the CA that issued its certificate.
func startMailpit(t *testing.T, mode mailpit.TLS) (*mailpit.Server, *tlstest.CA) {
	t.Helper()
	ca := tlstest.NewCA(t, "sealmail test CA")
	cert := ca.Issue(t, "127.0.0.1")
	opts := mailpit.Options{TLS: mode, CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM}
	if mode != mailpit.NoTLS {
		opts.Users = map[string]string{testUser: testPassword}
	}
	return mailpit.Start(t, opts), ca
}

func mailpitOptions(server *mailpit.Server, ca *tlstest.CA, mode TLSMode) Options {
	return Options{
		Host:           server.SMTPHost,
		Port:           server.SMTPPort,
		TLS:            mode,
		Username:       testUser,
		Password:       testPassword,
		RootCAs:        ca.Pool,
		ConnectTimeout: 2 * time.Second,
	}
}

func TestMailpitDelivers(t *testing.T) {
	tests := []struct {
		name   string
		server mailpit.TLS
		client TLSMode
	}{
		{"starttls", mailpit.RequireSTARTTLS, StartTLS},
		{"implicit", mailpit.RequireImplicitTLS, ImplicitTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, ca := startMailpit(t, tt.server)
			tr, err := New(mailpitOptions(server, ca, tt.client))
			if err != nil {
				t.Fatal(err)
			}

			env := transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org", "hidden@example.org"}}
			id, err := tr.Send(context.Background(), env, strings.NewReader(dotMessage))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if id == "" || strings.Contains(id, " ") {
				t.Errorf("id = %q, want mailpit's queue ID", id)
			}

			stored := server.LatestRaw(t)
			got := mailpit.StripTrace(t, stored, []byte(dotMessage))
			if !bytes.Equal(got, []byte(dotMessage)) {
				t.Errorf("mailpit stored\n%q\nwant\n%q", stored, dotMessage)
			}
		})
	}
}

func TestMailpitWrongPassword(t *testing.T) {
	server, ca := startMailpit(t, mailpit.RequireSTARTTLS)
	opts := mailpitOptions(server, ca, StartTLS)
	opts.Password = "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj"
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}

	e := sendError(t, tr)
	if e.Reply.Code != 535 {
		t.Errorf("Reply.Code = %d, want 535", e.Reply.Code)
	}
	if !strings.Contains(e.Error(), "sealmail smtp-password") {
		t.Errorf("error %q lacks the hint about the SMTP password", e)
	}
	if strings.Contains(e.Error(), opts.Password) {
		t.Errorf("error %q contains the password", e)
	}
	if n := server.Count(t); n != 0 {
		t.Errorf("mailpit holds %d messages, want 0", n)
	}
}

func TestMailpitSetupErrors(t *testing.T) {
	tests := []struct {
		name    string
		server  mailpit.TLS
		client  TLSMode
		trustCA bool
		want    string
	}{
		{"no STARTTLS offered", mailpit.NoTLS, StartTLS, true, "does not offer STARTTLS"},
		{"implicit TLS to a STARTTLS port", mailpit.RequireSTARTTLS, ImplicitTLS, true, "use TLS mode starttls"},
		{"STARTTLS to an implicit TLS port", mailpit.RequireImplicitTLS, StartTLS, true, "try TLS mode implicit"},
		{"untrusted certificate", mailpit.RequireSTARTTLS, StartTLS, false, "certificate is not valid"},
		{"untrusted certificate, implicit", mailpit.RequireImplicitTLS, ImplicitTLS, false, "certificate is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, ca := startMailpit(t, tt.server)
			opts := mailpitOptions(server, ca, tt.client)
			if tt.server == mailpit.NoTLS {
				// mailpit does not start with users and no TLS, so
				// startMailpit gives it none and the client sends no AUTH.
				opts.Username, opts.Password = "", ""
			}
			if !tt.trustCA {
				opts.RootCAs = tlstest.NewCA(t, "another CA").Pool
			}
			tr, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			e := sendError(t, tr)
			if elapsed := time.Since(start); elapsed > opts.ConnectTimeout+2*time.Second {
				t.Errorf("Send took %v, want at most about the connect timeout %v", elapsed, opts.ConnectTimeout)
			}
			if !strings.Contains(e.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", e, tt.want)
			}
			if e.Temporary() {
				t.Errorf("Temporary() = true for %q", e)
			}
			if n := server.Count(t); n != 0 {
				t.Errorf("mailpit holds %d messages, want 0", n)
			}
		})
	}
}
