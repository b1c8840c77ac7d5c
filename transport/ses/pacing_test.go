package ses_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

// rateLimitedSES is an httptest server on 127.0.0.1 that behaves as SES
// does at its maximum send rate. It responds to GetAccount with maxRate and
// returns HTTP 429 to a SendEmail request when maxRate requests were
// accepted in the second before it. Queued responses come first.
type rateLimitedSES struct {
	server  *httptest.Server
	maxRate int
	// accountStatus, accountErrorType and accountBody make up the
	// GetAccount response. A zero status means a body with maxRate.
	accountStatus    int
	accountErrorType string
	accountBody      string

	mu              sync.Mutex
	accepted        []time.Time
	throttled       int
	attempts        int
	accountRequests int
	queued          []fakeResponse
}

func newRateLimitedSES(t *testing.T, maxRate int, queued ...fakeResponse) *rateLimitedSES {
	t.Helper()
	f := &rateLimitedSES{maxRate: maxRate, queued: queued}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *rateLimitedSES) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	now := time.Now()
	w.Header().Set("Content-Type", "application/json")

	f.mu.Lock()
	defer f.mu.Unlock()

	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/email/account":
		f.accountRequests++
		if f.accountStatus != 0 {
			w.Header().Set("X-Amzn-ErrorType", f.accountErrorType)
			w.WriteHeader(f.accountStatus)
			io.WriteString(w, f.accountBody)
			return
		}
		fmt.Fprintf(w, `{"SendQuota":{"Max24HourSend":100000,"MaxSendRate":%d,"SentLast24Hours":12},"ProductionAccessEnabled":true,"SendingEnabled":true,"EnforcementStatus":"HEALTHY"}`, f.maxRate)
		return
	case r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails":
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}

	f.attempts++
	if len(f.queued) > 0 {
		resp := f.queued[0]
		f.queued = f.queued[1:]
		if resp.Status != http.StatusOK {
			w.Header().Set("X-Amzn-ErrorType", resp.ErrorType)
			w.WriteHeader(resp.Status)
			fmt.Fprintf(w, `{"message":%q}`, resp.Message)
			return
		}
	}

	// Keep only the acceptances of the last second.
	recent := f.accepted[:0]
	for _, at := range f.accepted {
		if now.Sub(at) < time.Second {
			recent = append(recent, at)
		}
	}
	f.accepted = recent
	if len(f.accepted) >= f.maxRate {
		f.throttled++
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"message":"Maximum sending rate exceeded."}`)
		return
	}
	f.accepted = append(f.accepted, now)
	fmt.Fprintf(w, `{"MessageId":"paced-%d"}`, f.attempts)
}

// counts returns the SendEmail attempts, the 429 responses and the
// GetAccount requests so far.
func (f *rateLimitedSES) counts() (attempts, throttled, accountRequests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, f.throttled, f.accountRequests
}

func TestSendPacedToAccountRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 11 seconds")
	}
	const goroutines, perGoroutine = 8, 25
	fake := newRateLimitedSES(t, 20)
	// One attempt per message, so that a single 429 fails a Send.
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxAttempts: 1})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perGoroutine)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perGoroutine {
				if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	elapsed := time.Since(start)

	for err := range errs {
		t.Errorf("Send: %v", err)
	}
	attempts, throttled, accountRequests := fake.counts()
	if throttled != 0 {
		t.Errorf("the endpoint returned HTTP 429 %d times, want none", throttled)
	}
	if attempts != goroutines*perGoroutine {
		t.Errorf("got %d SendEmail requests, want %d", attempts, goroutines*perGoroutine)
	}
	if accountRequests != 1 {
		t.Errorf("got %d GetAccount requests, want 1", accountRequests)
	}
	// 199 intervals of 1/18 second after the first request.
	if min := 11 * time.Second; elapsed < min {
		t.Errorf("200 sends took %v, want at least %v at 90 percent of 20 per second", elapsed, min)
	}
}

func TestSendPacedDespiteSlowCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 3 seconds")
	}
	const goroutines, sends, stalled = 8, 40, 5
	fake := newRateLimitedSES(t, 20)
	// One attempt per message, so that a single 429 fails a Send.
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxAttempts: 1})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	// The commit points of the first sends stall, as a slow sync of a
	// spool record does, until the sends paced after them catch up. Without
	// spacing at the commit point they would all leave at once, and more
	// than 20 requests would fall into one second.
	var commits atomic.Int32
	stall := func() error {
		if commits.Add(1) <= stalled {
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	}

	next := make(chan struct{})
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range next {
				ctx := transport.OnCommit(context.Background(), stall)
				if _, err := tr.Send(ctx, env, strings.NewReader(testMessage)); err != nil {
					t.Errorf("Send: %v", err)
				}
			}
		})
	}
	for range sends {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()

	attempts, throttled, _ := fake.counts()
	if throttled != 0 {
		t.Errorf("the endpoint returned HTTP 429 %d times, want none", throttled)
	}
	if attempts != sends {
		t.Errorf("got %d SendEmail requests, want %d", attempts, sends)
	}
}

func TestSendThrottledTwiceThenAccepted(t *testing.T) {
	throttle := fakeResponse{Status: http.StatusTooManyRequests, ErrorType: "TooManyRequestsException", Message: "Maximum sending rate exceeded."}
	fake := newRateLimitedSES(t, 20, throttle, throttle)
	tr := newTestTransport(t, fake.server.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	id, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != "paced-3" {
		t.Errorf("message ID = %q, want the one of the third attempt", id)
	}
	attempts, _, _ := fake.counts()
	if attempts != 3 {
		t.Errorf("got %d SendEmail requests, want 3", attempts)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if n := len(fake.accepted); n != 1 {
		t.Errorf("the endpoint accepted %d messages, want 1", n)
	}
}

func TestSendLimitExceededRateRetried(t *testing.T) {
	rate := fakeResponse{Status: http.StatusBadRequest, ErrorType: "LimitExceededException", Message: "Maximum sending rate exceeded."}
	fake := newRateLimitedSES(t, 20, rate)
	tr := newTestTransport(t, fake.server.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if attempts, _, _ := fake.counts(); attempts != 2 {
		t.Errorf("got %d SendEmail requests, want 2", attempts)
	}
}

func TestSendMessageRejectedOnce(t *testing.T) {
	rejected := fakeResponse{Status: http.StatusBadRequest, ErrorType: "MessageRejected", Message: "Email address is not verified."}
	fake := newRateLimitedSES(t, 20, rejected, rejected, rejected)
	tr := newTestTransport(t, fake.server.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error = %v, want a *SendError", err)
	}
	if attempts, _, _ := fake.counts(); attempts != 1 {
		t.Errorf("got %d SendEmail requests, want 1", attempts)
	}
	if sendErr.Temporary() || sendErr.Uncertain || sendErr.Throttled {
		t.Errorf("error %+v is temporary, uncertain or throttled; a rejected message is none of those", sendErr)
	}
}

func TestPacingFromAccount(t *testing.T) {
	fake := newRateLimitedSES(t, 14)
	tr := newTestTransport(t, fake.server.URL, ses.Options{})

	for range 2 {
		p, err := tr.Pacing(context.Background())
		if err != nil {
			t.Fatalf("Pacing: %v", err)
		}
		if p.MaxSendRate != 14 || p.Source != ses.PacingAccount || p.Err != nil {
			t.Errorf("Pacing() = %+v, want 14 per second from the account", p)
		}
	}
	if _, _, accountRequests := fake.counts(); accountRequests != 1 {
		t.Errorf("got %d GetAccount requests, want 1", accountRequests)
	}
}

func TestPacingFallbackWithoutPermission(t *testing.T) {
	fake := newRateLimitedSES(t, 20)
	fake.mu.Lock()
	fake.accountStatus = http.StatusForbidden
	fake.accountErrorType = "AccessDeniedException"
	fake.accountBody = `{"message":"User is not authorized to perform ses:GetAccount"}`
	fake.mu.Unlock()
	tr := newTestTransport(t, fake.server.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	p, err := tr.Pacing(context.Background())
	if err != nil {
		t.Fatalf("Pacing: %v", err)
	}
	if p.MaxSendRate != ses.DefaultMaxSendRate || p.Source != ses.PacingDefault {
		t.Errorf("Pacing() = %+v, want the default rate", p)
	}
	var apiErr *ses.APIError
	if !errors.As(p.Err, &apiErr) || apiErr.Code != "AccessDeniedException" {
		t.Fatalf("Pacing().Err = %v, want an *APIError with AccessDeniedException", p.Err)
	}
	if !strings.Contains(p.Err.Error(), "ses:GetAccount permission") {
		t.Errorf("Pacing().Err = %q, want it to name the missing permission", p.Err)
	}

	// Two sends at the default rate are at least 1/0.9 seconds apart.
	start := time.Now()
	for range 2 {
		if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("two sends took %v, want at least a second at the default rate", elapsed)
	}
	if _, _, accountRequests := fake.counts(); accountRequests != 1 {
		t.Errorf("got %d GetAccount requests, want 1", accountRequests)
	}
}

func TestPacingFromOptions(t *testing.T) {
	tests := []struct {
		name   string
		rate   float64
		want   float64
		source ses.PacingSource
	}{
		{name: "rate", rate: 50, want: 50, source: ses.PacingOptions},
		{name: "off", rate: ses.NoPacing, want: 0, source: ses.PacingOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newRateLimitedSES(t, 1000)
			tr := newTestTransport(t, fake.server.URL, ses.Options{MaxSendRate: tt.rate})
			env := transport.Envelope{Recipients: []string{"bob@example.com"}}

			p, err := tr.Pacing(context.Background())
			if err != nil {
				t.Fatalf("Pacing: %v", err)
			}
			if p.MaxSendRate != tt.want || p.Source != tt.source {
				t.Errorf("Pacing() = %+v, want %v from %s", p, tt.want, tt.source)
			}
			for range 3 {
				if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			if _, _, accountRequests := fake.counts(); accountRequests != 0 {
				t.Errorf("got %d GetAccount requests, want none", accountRequests)
			}
		})
	}
}

func TestSendCountsRecipientsAgainstRate(t *testing.T) {
	fake := newRateLimitedSES(t, 1000)
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxSendRate: 10})
	three := transport.Envelope{Recipients: []string{"bob@example.com", "carol@example.net", "dave@example.org"}}
	one := transport.Envelope{Recipients: []string{"bob@example.com"}}

	start := time.Now()
	if _, err := tr.Send(context.Background(), three, strings.NewReader(testMessage)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := tr.Send(context.Background(), one, strings.NewReader(testMessage)); err != nil {
		t.Fatalf("Send: %v", err)
	}

	// Three recipients at 90 percent of 10 per second take a third of a
	// second before the next request may go.
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("the second send went after %v, want at least 300ms", elapsed)
	}
}

func TestSendPacingCanceled(t *testing.T) {
	fake := newRateLimitedSES(t, 1000)
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxSendRate: 0.5})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}
	if _, err := tr.Send(context.Background(), env, strings.NewReader(testMessage)); err != nil {
		t.Fatalf("Send: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := tr.Send(ctx, env, strings.NewReader(testMessage))

	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error = %v, want a *SendError", err)
	}
	if !sendErr.Unsent || sendErr.Uncertain {
		t.Errorf("Unsent = %v, Uncertain = %v, want a send that never left", sendErr.Unsent, sendErr.Uncertain)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if attempts, _, _ := fake.counts(); attempts != 1 {
		t.Errorf("got %d SendEmail requests, want 1", attempts)
	}
}
