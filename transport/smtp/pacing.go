package smtp

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealmail/sealmail/transport"
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

// turnKey is the context key of WaitTurn. Its value records whether Send
// took the turn.
type turnKey struct{}

// WaitTurn blocks until a message to the recipients of env may go at
// [Options.MaxSendRate], and returns the context with which Send takes that
// turn instead of waiting for another. A caller that records a send before
// it starts, as package spool does, waits here first, so that the record is
// not written long before the session starts.
func (t *Transport) WaitTurn(ctx context.Context, env transport.Envelope) (context.Context, error) {
	if rate := t.opts.MaxSendRate; rate > 0 {
		if err := t.pacer.wait(ctx, rate, len(env.Recipients)); err != nil {
			return ctx, &SendError{Addr: t.addr, Err: fmt.Errorf("while waiting for the sending rate: %w", err), Interrupted: true, temporary: true}
		}
	}
	return context.WithValue(ctx, turnKey{}, new(atomic.Bool)), nil
}

// waitTurn waits for the turn of a message to recipients, unless ctx
// carries a turn from WaitTurn that was not taken yet.
func (t *Transport) waitTurn(ctx context.Context, recipients int) error {
	if taken, ok := ctx.Value(turnKey{}).(*atomic.Bool); ok && taken.CompareAndSwap(false, true) {
		return nil
	}
	rate := t.opts.MaxSendRate
	if rate <= 0 {
		return nil
	}
	if err := t.pacer.wait(ctx, rate, recipients); err != nil {
		return &SendError{Addr: t.addr, Err: fmt.Errorf("while waiting for the sending rate: %w", err), Interrupted: true, temporary: true}
	}
	return nil
}
