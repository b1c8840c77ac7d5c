package smtp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
)

// newPlainTransport makes a transport to f over plain SMTP, which the fake
// serves without TLS, paced to rate.
func newPlainTransport(t *testing.T, f *fakeServer, rate float64) *Transport {
	t.Helper()
	tr, err := New(Options{Host: "127.0.0.1", Port: f.port(t), Insecure: true, MaxSendRate: rate,
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestSendPacedToMaxSendRate(t *testing.T) {
	f := startFake(t, &fakeServer{})
	// The test envelope has two recipients, so each message takes a fifth
	// of a second at 10 recipients per second.
	tr := newPlainTransport(t, f, 10)

	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage)); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()

	if n := len(f.Messages()); n != 4 {
		t.Errorf("server received %d messages, want 4", n)
	}
	if elapsed := time.Since(start); elapsed < 600*time.Millisecond {
		t.Errorf("4 messages took %v, want at least 600ms at 10 recipients per second", elapsed)
	}
}

func TestSendPacedDespiteSlowCommit(t *testing.T) {
	const messages, stalled = 16, 5
	f := startFake(t, &fakeServer{})
	// The test envelope has two recipients, so at 20 recipients per second
	// any one second may hold 10 final dots, plus one.
	tr := newPlainTransport(t, f, 20)
	const maxPerSecond = 11

	// The commit points of the first sessions stall, as a slow sync of a
	// spool record does, until the sessions paced after them catch up.
	// Without spacing at the commit point their final dots would leave
	// together with the later ones.
	var commits atomic.Int32
	stall := func() error {
		if commits.Add(1) <= stalled {
			time.Sleep(400 * time.Millisecond)
		}
		return nil
	}
	var wg sync.WaitGroup
	for range messages {
		wg.Go(func() {
			ctx := transport.OnCommit(context.Background(), stall)
			if _, err := tr.Send(ctx, testEnvelope, strings.NewReader(testMessage)); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()

	ends := f.Ends()
	if len(ends) != messages {
		t.Fatalf("server received %d messages, want %d", len(ends), messages)
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	for i, start := range ends {
		in := 0
		for _, end := range ends[i:] {
			if end.Sub(start) < time.Second {
				in++
			}
		}
		if in > maxPerSecond {
			t.Errorf("%d final dots arrived in the second from %v, want at most %d", in, start.Sub(ends[0]), maxPerSecond)
		}
	}
}

func TestSendPacingCanceled(t *testing.T) {
	f := startFake(t, &fakeServer{})
	tr := newPlainTransport(t, f, 0.5)
	if _, err := tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := tr.Send(transport.FinishInFlight(ctx, time.Minute), testEnvelope, strings.NewReader(testMessage))
	var sendErr *SendError
	if !errors.As(err, &sendErr) || !sendErr.Temporary() || sendErr.Uncertain {
		t.Errorf("Send canceled while it waits for its turn = %v, want a temporary *SendError", err)
	}
	if n := len(f.Messages()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
}

func TestFinishInFlightGetsReply(t *testing.T) {
	f := startFake(t, &fakeServer{dataReceived: make(chan struct{}, 1), endDelay: 300 * time.Millisecond})
	tr := newPlainTransport(t, f, 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.dataReceived
		cancel()
	}()
	id, err := tr.Send(transport.FinishInFlight(ctx, 10*time.Second), testEnvelope, strings.NewReader(testMessage))
	if err != nil {
		t.Fatalf("Send canceled after the message data, with FinishInFlight: %v", err)
	}
	if id != "0100018f-fake-queue-id-000000" {
		t.Errorf("queue ID = %q", id)
	}
}

func TestNewRejectsNegativeSendRate(t *testing.T) {
	_, err := New(Options{Host: "mail.example.org", MaxSendRate: -1})
	var optErr *OptionError
	if !errors.As(err, &optErr) || !strings.Contains(err.Error(), "invalid SMTP send rate") {
		t.Errorf("New with a negative send rate = %v, want an *OptionError", err)
	}
}
