package ses_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

func TestCommitBeforeRequestBody(t *testing.T) {
	fake := newFakeSES(t,
		fakeResponse{Status: http.StatusTooManyRequests, ErrorType: "TooManyRequestsException", Message: "Maximum sending rate exceeded."},
	)
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxSendRate: ses.NoPacing})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	var commits, requestsAtCommit int
	ctx := transport.OnCommit(context.Background(), func() error {
		commits++
		requestsAtCommit = len(fake.Requests())
		return nil
	})
	if _, err := tr.Send(ctx, env, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	if commits != 1 {
		t.Errorf("commit ran %d times for a throttled attempt and a retry, want 1", commits)
	}
	if requestsAtCommit != 0 {
		t.Errorf("the endpoint had %d requests when the commit ran, want 0", requestsAtCommit)
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
	if !tr.ReportsCommit() {
		t.Error("ReportsCommit = false, want true")
	}
}

func TestCommitErrorSendsNothing(t *testing.T) {
	var complete atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(body) {
			return
		}
		complete.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MessageId":"0100018e-test-1"}`)
	}))
	t.Cleanup(server.Close)
	tr := newTestTransport(t, server.URL, ses.Options{MaxSendRate: ses.NoPacing})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	failure := errors.New("disk full")
	ctx := transport.OnCommit(context.Background(), func() error { return failure })
	_, err := tr.Send(ctx, env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("Send with a failing commit = %v, want a *SendError", err)
	}
	if !sendErr.Unsent || !sendErr.Temporary() || sendErr.Uncertain || sendErr.Interrupted {
		t.Errorf("error %+v, want unsent and temporary, not uncertain or interrupted", sendErr)
	}
	if sendErr.Setup {
		t.Errorf("Setup = true for a failed record of the commit point, want false")
	}
	if !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("error %q does not name the failure and say that nothing was sent", err)
	}
	if n := complete.Load(); n != 0 {
		t.Errorf("the endpoint received %d complete requests, want 0", n)
	}
}

// stalledTLSEndpoint returns an https:// endpoint on 127.0.0.1 that accepts
// connections but never starts the TLS handshake, and a channel that
// receives a value for each connection.
func stalledTLSEndpoint(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 16)
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
			connected <- struct{}{}
		}
	}()
	return "https://" + l.Addr().String(), connected
}

func TestCanceledBeforeCommitIsInterrupted(t *testing.T) {
	tests := []struct {
		name string
		wrap func(context.Context) context.Context
	}{
		{"plain context", func(ctx context.Context) context.Context { return ctx }},
		// The grace of FinishInFlight starts only at the commit point.
		{"FinishInFlight", func(ctx context.Context) context.Context { return transport.FinishInFlight(ctx, time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, connected := stalledTLSEndpoint(t)
			tr := newTestTransport(t, endpoint, ses.Options{MaxSendRate: ses.NoPacing})
			env := transport.Envelope{Recipients: []string{"bob@example.com"}}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-connected
				cancel()
			}()
			committed := false
			ctx = transport.OnCommit(tt.wrap(ctx), func() error {
				committed = true
				return nil
			})
			_, err := tr.Send(ctx, env, strings.NewReader(testMessage))

			var sendErr *ses.SendError
			if !errors.As(err, &sendErr) || !errors.Is(err, context.Canceled) {
				t.Fatalf("Send canceled in the TLS handshake = %v, want a *SendError wrapping context.Canceled", err)
			}
			if !sendErr.Interrupted || !sendErr.Unsent || !sendErr.Temporary() || sendErr.Uncertain {
				t.Errorf("error %+v, want interrupted, unsent and temporary, not uncertain", sendErr)
			}
			if !strings.Contains(err.Error(), "interrupted, nothing was sent") {
				t.Errorf("error %q does not say \"interrupted, nothing was sent\"", err)
			}
			if committed {
				t.Error("commit ran, want it only once the connection is up")
			}
		})
	}
}
