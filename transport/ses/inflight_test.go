package ses_test

import (
	"context"
	"errors"
	"fmt"
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

// slowSES is an httptest server that signals each SendEmail request on
// arrived and responds with a message ID after delay.
type slowSES struct {
	server   *httptest.Server
	delay    time.Duration
	arrived  chan struct{}
	accepted atomic.Int32
}

func newSlowSES(t *testing.T, delay time.Duration) *slowSES {
	t.Helper()
	f := &slowSES{delay: delay, arrived: make(chan struct{}, 16)}
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		f.arrived <- struct{}{}
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
		n := f.accepted.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"MessageId":"slow-%d"}`, n)
	}))
	t.Cleanup(f.server.Close)
	return f
}

// sendCanceledInFlight sends one message and cancels ctx once the request
// reached the server.
func sendCanceledInFlight(t *testing.T, tr *ses.Transport, f *slowSES, wrap func(context.Context) context.Context) (string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.arrived
		cancel()
	}()
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}
	return tr.Send(wrap(ctx), env, strings.NewReader(testMessage))
}

func TestFinishInFlightGetsResponse(t *testing.T) {
	f := newSlowSES(t, 300*time.Millisecond)
	tr := newTestTransport(t, f.server.URL, ses.Options{MaxSendRate: ses.NoPacing})

	id, err := sendCanceledInFlight(t, tr, f, func(ctx context.Context) context.Context {
		return transport.FinishInFlight(ctx, 10*time.Second)
	})
	if err != nil {
		t.Fatalf("Send canceled in flight with FinishInFlight: %v", err)
	}
	if id != "slow-1" {
		t.Errorf("message ID = %q, want slow-1", id)
	}
}

func TestCanceledInFlightIsUncertain(t *testing.T) {
	f := newSlowSES(t, 300*time.Millisecond)
	tr := newTestTransport(t, f.server.URL, ses.Options{MaxSendRate: ses.NoPacing})

	_, err := sendCanceledInFlight(t, tr, f, func(ctx context.Context) context.Context { return ctx })
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) || !sendErr.Uncertain {
		t.Errorf("Send canceled in flight = %v, want an uncertain *SendError", err)
	}
}

func TestFinishInFlightGraceEnds(t *testing.T) {
	f := newSlowSES(t, time.Minute)
	tr := newTestTransport(t, f.server.URL, ses.Options{MaxSendRate: ses.NoPacing})

	start := time.Now()
	_, err := sendCanceledInFlight(t, tr, f, func(ctx context.Context) context.Context {
		return transport.FinishInFlight(ctx, 200*time.Millisecond)
	})
	if err == nil {
		t.Fatal("Send to a server that never responds succeeded")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Send returned after %v, want soon after the grace period of 200ms", elapsed)
	}
}

func TestFinishInFlightStopsPacingWait(t *testing.T) {
	fake := newRateLimitedSES(t, 1000)
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxSendRate: 0.5})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}
	if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := tr.Send(transport.FinishInFlight(ctx, time.Minute), env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) || !sendErr.Unsent || !sendErr.Temporary() {
		t.Errorf("Send canceled while it waits for its turn = %v, want an unsent, temporary *SendError", err)
	}
	if attempts, _, _ := fake.counts(); attempts != 1 {
		t.Errorf("got %d SendEmail requests, want 1", attempts)
	}
}

func TestPacingRateLimit(t *testing.T) {
	tests := []struct {
		name    string
		opts    ses.Options
		account int
		want    float64
	}{
		{name: "below the account", opts: ses.Options{RateLimit: 5}, account: 20, want: 5},
		{name: "above the account", opts: ses.Options{RateLimit: 50}, account: 20, want: 18},
		{name: "no limit", opts: ses.Options{}, account: 20, want: 18},
		{name: "pacing off", opts: ses.Options{MaxSendRate: ses.NoPacing, RateLimit: 7}, account: 20, want: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newRateLimitedSES(t, tt.account)
			tr := newTestTransport(t, fake.server.URL, tt.opts)
			p, err := tr.Pacing(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if p.Rate != tt.want {
				t.Errorf("Pacing().Rate = %v, want %v", p.Rate, tt.want)
			}
		})
	}
}

func TestSendKeepsToRateLimit(t *testing.T) {
	fake := newRateLimitedSES(t, 1000)
	tr := newTestTransport(t, fake.server.URL, ses.Options{RateLimit: 10})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	start := time.Now()
	for range 4 {
		if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	// Three intervals of a tenth of a second after the first request.
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("4 sends took %v, want at least 300ms at 10 per second", elapsed)
	}
}

func TestNewRejectsInvalidRateLimit(t *testing.T) {
	for _, rate := range []float64{-1, ses.NoPacing} {
		_, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1", RateLimit: rate})
		var optErr *ses.OptionError
		if !errors.As(err, &optErr) || !strings.Contains(err.Error(), "invalid rate limit") {
			t.Errorf("New with RateLimit %v = %v, want an *OptionError about the rate limit", rate, err)
		}
	}
}

func TestWaitTurnTakenOnce(t *testing.T) {
	fake := newRateLimitedSES(t, 1000)
	tr := newTestTransport(t, fake.server.URL, ses.Options{RateLimit: 5})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}
	if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	turn, err := tr.WaitTurn(context.Background(), env)
	if err != nil {
		t.Fatalf("WaitTurn: %v", err)
	}
	waited := time.Since(start)
	if _, err := tr.Send(turn, env, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	// A fifth of a second at 5 per second, for WaitTurn alone.
	if waited < 150*time.Millisecond {
		t.Errorf("WaitTurn returned after %v, want about 200ms", waited)
	}
	if sent := time.Since(start); sent > waited+150*time.Millisecond {
		t.Errorf("Send with the turn of WaitTurn returned %v after WaitTurn, want no second wait", sent-waited)
	}

	// The turn is taken, so the next Send waits for its own.
	before := time.Now()
	if _, err := tr.Send(turn, env, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(before); elapsed < 150*time.Millisecond {
		t.Errorf("a second Send with a taken turn went after %v, want about 200ms", elapsed)
	}
}
