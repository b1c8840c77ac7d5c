package smtp

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sealmail/sealmail/transport"
)

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
		if err := t.pacer.Wait(ctx, rate, len(env.Recipients)); err != nil {
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
	if err := t.pacer.Wait(ctx, rate, recipients); err != nil {
		return &SendError{Addr: t.addr, Err: fmt.Errorf("while waiting for the sending rate: %w", err), Interrupted: true, temporary: true}
	}
	return nil
}
