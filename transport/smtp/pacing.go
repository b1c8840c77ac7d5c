package smtp

import (
	"context"
	"sync"
	"time"
)

// pacer spaces sessions evenly: a message for n recipients holds back the
// next one by n divided by the rate. It saves up no burst while idle. It is
// safe for concurrent use.
type pacer struct {
	mu sync.Mutex
	// next is the earliest time the next session may start.
	next time.Time
}

// wait blocks until a message for recipients may go at rate recipients per
// second, or ctx ends.
func (p *pacer) wait(ctx context.Context, rate float64, recipients int) error {
	p.mu.Lock()
	start := time.Now()
	if p.next.After(start) {
		start = p.next
	}
	p.next = start.Add(time.Duration(float64(recipients) / rate * float64(time.Second)))
	p.mu.Unlock()

	delay := time.Until(start)
	if delay <= 0 {
		return nil
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// inFlightKey is the context key of FinishInFlight; its value is the grace
// period.
type inFlightKey struct{}

// FinishInFlight returns a context for [Transport.Send] with which the end
// of ctx stops a call that waits for its turn at [Options.MaxSendRate], but
// not a session that has started. That session may run on for grace after
// ctx ends, to get the server's reply. SMTP has no idempotency key, so a
// session cut off after the message data leaves it unknown whether the
// server accepted the message. A sender that stops on a signal uses it to
// stop cleanly.
func FinishInFlight(ctx context.Context, grace time.Duration) context.Context {
	return context.WithValue(ctx, inFlightKey{}, grace)
}

// detach returns a context that ends grace after ctx ends, and the function
// that releases it.
func detach(ctx context.Context, grace time.Duration) (context.Context, func()) {
	detached, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopWatch := context.AfterFunc(ctx, func() {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-timer.C:
			cancel()
		case <-detached.Done():
		}
	})
	return detached, func() {
		stopWatch()
		cancel()
	}
}
