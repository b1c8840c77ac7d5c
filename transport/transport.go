// Package transport defines what every way out of sealmail shares: the
// envelope of one copy and the interface a transport implements.
//
// The envelope is the SMTP envelope of RFC 5321 (MAIL FROM and RCPT TO). It is
// never written into the message header: Bcc recipients appear only here.
//
// # The commit point
//
// Neither SES nor SMTP has an idempotency key, so a sender that stops in the
// middle of a send cannot ask the server whether it accepted the message. The
// commit point splits a send in two. Before it, the server cannot accept the
// message, because the bytes that complete it have not been written: sending
// again delivers it once. After it, the server may accept the message at any
// moment, and sending again may deliver it twice. A transport that
// implements [CommitReporter] calls [Commit] at that point, which calls the
// function a caller passed to [OnCommit], so that a spool can record the
// difference before it matters.
package transport

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Envelope is the SMTP envelope of one copy of a message.
//
// Records written before the JSON names were lowercase spell them "From"
// and "Recipients", which encoding/json still reads, since it matches names
// without regard to case.
type Envelope struct {
	// From is the bare address of the sender (the return path).
	From string `json:"from"`
	// Recipients are the bare addresses the copy is delivered to, Bcc
	// recipients included.
	Recipients []string `json:"recipients"`
}

// Transport hands one raw message to a way out.
type Transport interface {
	// Send delivers raw, a complete RFC 5322 message with CRLF line endings,
	// to the recipients of env. It returns the identifier the transport
	// assigned to the message (the SES message ID, or a file name for a
	// Maildir), which callers record beside the sent copy.
	Send(ctx context.Context, env Envelope, raw io.Reader) (id string, err error)
}

// CommitReporter is a [Transport] whose Send calls [Commit] at its commit
// point, and never writes the bytes that complete a message before Commit
// returned nil.
type CommitReporter interface {
	Transport
	// ReportsCommit reports whether Send calls Commit as described. A
	// transport that wraps another returns the result of the inner one.
	ReportsCommit() bool
}

// SetupFailed reports whether err, or an error it wraps, has a method
// SetupFailed that returns true. The transports of sealmail return such an
// error when a send failed before the message was handed over, because the
// server could not be reached or the session with it could not be set up.
// Causes include a name that does not resolve, a connection refused or timed
// out, a TLS handshake or certificate check that fails, no STARTTLS, and
// credentials that are missing or rejected. Nothing was accepted. Every
// later send through the same transport, with the same settings, is likely
// to fail the same way. A sender of many messages therefore stops at the
// first such error, whether it is temporary (the server is down) or not (a
// wrong setting).
func SetupFailed(err error) bool {
	var setup interface{ SetupFailed() bool }
	return errors.As(err, &setup) && setup.SetupFailed()
}

// commitKey is the context key of OnCommit.
type commitKey struct{}

// commitPoint is the value of OnCommit: the caller's function and the
// outcome of its one call.
type commitPoint struct {
	mu     sync.Mutex
	commit func() error
	called bool
	err    error
}

// OnCommit returns a context for one call of [Transport.Send] with which a
// [CommitReporter] calls commit at its commit point, at most once, however
// many attempts Send makes. The commit point is the moment after which the
// server may have accepted the message. When commit returns an error, Send
// stops before that point and returns an error whose Temporary method
// returns true, since nothing was accepted.
func OnCommit(ctx context.Context, commit func() error) context.Context {
	return context.WithValue(ctx, commitKey{}, &commitPoint{commit: commit})
}

// Commit is called by a transport at its commit point: just before it writes
// the bytes that complete the message, such as the end of the SMTP data or
// the body of an HTTP request. It returns an error, and the transport must
// then stop without writing them, when ctx ended before the commit point or
// when the function of [OnCommit] failed. It calls that function only the
// first time. For a context from [DetachInFlight], it also starts the grace
// period of [FinishInFlight].
func Commit(ctx context.Context) error {
	if err := markCommitted(ctx); err != nil {
		return err
	}
	point, ok := ctx.Value(commitKey{}).(*commitPoint)
	if !ok {
		return nil
	}
	point.mu.Lock()
	defer point.mu.Unlock()
	if !point.called {
		point.called = true
		point.err = point.commit()
	}
	return point.err
}

// inFlightKey is the context key of FinishInFlight. Its value is the grace
// period.
type inFlightKey struct{}

// FinishInFlight returns a context for [Transport.Send] with which the end of
// ctx stops a send at once until the transport reaches its commit point (see
// [Commit]), but not a request that passed it. That request may run on for up
// to grace after ctx ends, to get its reply, because a request cut off then
// leaves it unknown whether the message was accepted. A sender that stops on
// a signal uses it to stop cleanly.
func FinishInFlight(ctx context.Context, grace time.Duration) context.Context {
	return context.WithValue(ctx, inFlightKey{}, grace)
}

// inFlightStateKey is the context key of the inFlight of a context from
// DetachInFlight.
type inFlightStateKey struct{}

// inFlight is the stage of one request detached by DetachInFlight.
type inFlight struct {
	// parent is the context the request was detached from.
	parent context.Context

	mu sync.Mutex
	// committed is set by Commit. From then on, the end of parent gives
	// the request its grace period.
	committed bool
}

// DetachInFlight returns the context for a request that a transport is about
// to send, and the function that releases it. When ctx comes from
// [FinishInFlight], the returned context ends as soon as ctx ends if the
// transport has not called [Commit] with it yet, and grace after ctx ends if
// it has. The error is that of ctx if it has ended already, so that no
// request starts after a stop. Otherwise ctx is returned as it is.
func DetachInFlight(ctx context.Context) (context.Context, context.CancelFunc, error) {
	grace, ok := ctx.Value(inFlightKey{}).(time.Duration)
	if !ok {
		return ctx, func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, err
	}

	state := &inFlight{parent: ctx}
	detached, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), inFlightStateKey{}, state))
	stopWatch := context.AfterFunc(ctx, func() {
		state.mu.Lock()
		committed := state.committed
		state.mu.Unlock()
		if !committed {
			cancel()
			return
		}
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
	}, nil
}

// markCommitted records the commit point in the inFlight of ctx, if it has
// one. It returns the error of the context the request was detached from
// when that ended first, and otherwise the error of ctx.
func markCommitted(ctx context.Context) error {
	state, ok := ctx.Value(inFlightStateKey{}).(*inFlight)
	if !ok {
		return ctx.Err()
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.committed {
		// Checked under the lock, so that the watch of DetachInFlight
		// either observes the commit or the request stops here.
		if err := state.parent.Err(); err != nil {
			return err
		}
		state.committed = true
	}
	return ctx.Err()
}
