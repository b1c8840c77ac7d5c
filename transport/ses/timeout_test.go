package ses_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

// stalledSES starts an httptest server on 127.0.0.1 that reads each request and
// never responds, as a stopped endpoint does once the kernel has taken the
// request. The test's cleanup releases the handlers.
func stalledSES(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-release
	}))
	t.Cleanup(server.Close)
	t.Cleanup(func() { close(release) })
	return server
}

func TestSendTimeoutAfterCommitUncertain(t *testing.T) {
	server := stalledSES(t)
	tr := newTestTransport(t, server.URL, ses.Options{MaxSendRate: ses.NoPacing, RequestTimeout: 200 * time.Millisecond})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	committed, err := sendNotingCommit(tr, env)

	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("Send to a stalled endpoint = %v, want a *SendError", err)
	}
	if !sendErr.TimedOut || !sendErr.Uncertain {
		t.Errorf("TimedOut = %v, Uncertain = %v, want both for a request whose body was sent", sendErr.TimedOut, sendErr.Uncertain)
	}
	if sendErr.Temporary() || sendErr.Interrupted || sendErr.Setup {
		t.Errorf("Temporary() = %v, Interrupted = %v, Setup = %v, want none", sendErr.Temporary(), sendErr.Interrupted, sendErr.Setup)
	}
	if !committed {
		t.Error("the commit point was not reported")
	}
	if !strings.Contains(err.Error(), "no response within 200ms") || !strings.Contains(err.Error(), "may have accepted") {
		t.Errorf("error %q does not name the timeout and say that SES may have accepted the message", err)
	}
}

func TestSendTimeoutBeforeCommitUnsent(t *testing.T) {
	endpoint, _ := stalledTLSEndpoint(t)
	tr := newTestTransport(t, endpoint, ses.Options{MaxSendRate: ses.NoPacing, RequestTimeout: 200 * time.Millisecond})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	committed, err := sendNotingCommit(tr, env)

	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("Send to an endpoint that never completes the TLS handshake = %v, want a *SendError", err)
	}
	if !sendErr.TimedOut || !sendErr.Unsent || !sendErr.Temporary() || !sendErr.Setup {
		t.Errorf("TimedOut = %v, Unsent = %v, Temporary() = %v, Setup = %v, want all four", sendErr.TimedOut, sendErr.Unsent, sendErr.Temporary(), sendErr.Setup)
	}
	if sendErr.Uncertain || sendErr.Interrupted {
		t.Errorf("Uncertain = %v, Interrupted = %v, want neither", sendErr.Uncertain, sendErr.Interrupted)
	}
	if committed {
		t.Error("the commit point was reported for a request that never left")
	}
	if !strings.Contains(err.Error(), "no response within 200ms") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("error %q does not name the timeout and say that nothing was sent", err)
	}
}

func TestAccountTimeout(t *testing.T) {
	server := stalledSES(t)
	tr := newTestTransport(t, server.URL, ses.Options{RequestTimeout: 200 * time.Millisecond})

	_, err := tr.Account(context.Background())
	var apiErr *ses.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Account with a stalled endpoint = %v, want an *APIError", err)
	}
	if !strings.Contains(err.Error(), "GetAccount: no response within 200ms") {
		t.Errorf("error %q does not name the operation and the timeout", err)
	}
}

func TestSendTimeoutExcludesPacing(t *testing.T) {
	fake := newFakeSES(t)
	// Two sends at 90 percent of 2 per second are more than half a second
	// apart, longer than the timeout of an attempt.
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxSendRate: 2, RequestTimeout: 300 * time.Millisecond})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	for i := range 2 {
		if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
}

func TestNewRejectsNegativeTimeout(t *testing.T) {
	isolateAWSEnv(t)
	_, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1", RequestTimeout: -time.Second})
	var optErr *ses.OptionError
	if !errors.As(err, &optErr) || !strings.Contains(err.Error(), "invalid request timeout") {
		t.Errorf("New with a negative timeout = %v, want an *OptionError", err)
	}
}

// sendNotingCommit sends the test message and reports whether the transport
// reached its commit point.
func sendNotingCommit(tr *ses.Transport, env transport.Envelope) (bool, error) {
	var committed atomic.Bool
	ctx := transport.OnCommit(context.Background(), func() error {
		committed.Store(true)
		return nil
	})
	_, err := tr.Send(ctx, env, strings.NewReader(testMessage))
	return committed.Load(), err
}
