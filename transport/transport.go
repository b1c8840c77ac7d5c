// Package transport defines what every way out of sealmail shares: the
// envelope of one copy and the interface a transport implements.
//
// The envelope is the SMTP envelope of RFC 5321 (MAIL FROM and RCPT TO). It is
// never written into the message header: Bcc recipients appear only here.
package transport

import (
	"context"
	"io"
	"time"
)

// Envelope is the SMTP envelope of one copy of a message.
type Envelope struct {
	// From is the bare address of the sender (the return path).
	From string
	// Recipients are the bare addresses the copy is delivered to, Bcc
	// recipients included.
	Recipients []string
}

// Transport hands one raw message to a way out.
type Transport interface {
	// Send delivers raw, a complete RFC 5322 message with CRLF line endings,
	// to the recipients of env. It returns the identifier the transport
	// assigned to the message (the SES message ID, or a file name for a
	// Maildir), which callers record beside the sent copy.
	Send(ctx context.Context, env Envelope, raw io.Reader) (id string, err error)
}

// inFlightKey is the context key of FinishInFlight. Its value is the grace
// period.
type inFlightKey struct{}

// FinishInFlight returns a context for [Transport.Send] with which the end of
// ctx stops a send that still waits, for its turn at a sending rate or for a
// retry, but not a request that has left. That request may run on for up to
// grace after ctx ends, to get its reply. Neither SES nor SMTP has an
// idempotency key, so a request cut off in flight leaves it unknown whether
// the message was accepted. A sender that stops on a signal uses it to stop
// cleanly.
func FinishInFlight(ctx context.Context, grace time.Duration) context.Context {
	return context.WithValue(ctx, inFlightKey{}, grace)
}

// DetachInFlight returns the context for a request that a transport is about
// to send, and the function that releases it. When ctx comes from
// [FinishInFlight], the returned context ends grace after ctx ends, and the
// error is that of ctx if it has ended already, so that no request starts
// after a stop. Otherwise ctx is returned as it is.
func DetachInFlight(ctx context.Context) (context.Context, context.CancelFunc, error) {
	grace, ok := ctx.Value(inFlightKey{}).(time.Duration)
	if !ok {
		return ctx, func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, err
	}
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
	}, nil
}
