package ses_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

func TestSendTLS(t *testing.T) {
	tests := []struct {
		name       string
		maxVersion uint16
		want       string
		unsent     bool
	}{
		{name: "TLS 1.1 server", maxVersion: tls.VersionTLS11, want: "protocol version", unsent: true},
		{name: "untrusted certificate", maxVersion: tls.VersionTLS13, want: "certificate", unsent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
			}))
			server.TLS = &tls.Config{MaxVersion: tt.maxVersion}
			server.Config.ErrorLog = log.New(io.Discard, "", 0)
			server.StartTLS()
			t.Cleanup(server.Close)
			tr := newTestTransport(t, server.URL, ses.Options{})
			env := transport.Envelope{Recipients: []string{"bob@example.com"}}

			_, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			var sendErr *ses.SendError
			if !errors.As(err, &sendErr) {
				t.Fatalf("error = %v, want a *SendError", err)
			}
			if sendErr.Unsent != tt.unsent {
				t.Errorf("Unsent = %v, want %v", sendErr.Unsent, tt.unsent)
			}
			if !transport.SetupFailed(err) {
				t.Errorf("transport.SetupFailed = false, want true for a failed TLS handshake")
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("the server handled %d requests, want none", n)
			}
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	tr := newTestTransport(t, endpoint, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err = tr.Send(context.Background(), env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error = %v, want a *SendError", err)
	}
	if !sendErr.Unsent {
		t.Errorf("Unsent = false, want true")
	}
	if !sendErr.Temporary() {
		t.Errorf("Temporary() = false, want true")
	}
	if sendErr.Uncertain {
		t.Errorf("Uncertain = true, want false")
	}
	if !transport.SetupFailed(err) {
		t.Errorf("transport.SetupFailed = false, want true for a refused connection")
	}
}
