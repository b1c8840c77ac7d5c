package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/smtp"
	"github.com/sealmail/sealmail/transport/spool"
)

// inFlightGrace is how long a request that left before a signal stopped
// sealmail may run on to get its response. Cutting it off would leave it
// unknown whether the copy was accepted.
const inFlightGrace = 30 * time.Second

const (
	// maxSenders bounds the requests in flight at once.
	maxSenders = 32
	// senderRoundTrip is the time of one request (an SES API call or an
	// SMTP session) that the number of senders is sized for: at a rate of
	// r per second, r times senderRoundTrip requests are in flight.
	senderRoundTrip = 500 * time.Millisecond
	// unpacedSenders is the number of senders when the transport does not
	// pace, as SMTP without --rate.
	unpacedSenders = 4
)

// sendersFor returns the number of goroutines that keep enough requests in
// flight to reach rate recipients per second, 0 meaning unpaced. The
// transport's pacing spaces their requests.
func sendersFor(rate float64) int {
	if rate <= 0 {
		return unpacedSenders
	}
	n := int(math.Ceil(rate * senderRoundTrip.Seconds()))
	return min(max(n, 1), maxSenders)
}

// transportRate returns the rate in recipients per second that t paces to,
// or 0 when it does not pace. For SES it may call GetAccount.
func transportRate(ctx context.Context, t transport.Transport) float64 {
	switch t := t.(type) {
	case *ses.Transport:
		p, err := t.Pacing(ctx)
		if err != nil {
			return 0
		}
		return p.Rate
	case *smtp.Transport:
		return t.MaxSendRate()
	}
	return 0
}

// sendEntries sends the spool entries ids on senders goroutines, each
// claiming one entry at a time as sendEntry does, and calls done with the
// index and outcome of each entry it handed to a transport. Once ctx ends it
// starts no more, and an entry whose request already left gets
// inFlightGrace to be accepted. The entries it did not start stay in the
// spool as they were.
func (a *app) sendEntries(ctx context.Context, h *home, sp *spool.Spool, ids []string, senders int,
	transportFor func(spool.Entry) (*spooledTransport, error), done func(i int, e spool.Entry, err error)) {
	sendCtx := transport.FinishInFlight(ctx, inFlightGrace)
	// The calls return no error, so only the end of ctx stops the others,
	// and forEachIndex then reports ctx's error, which the caller knows.
	_ = forEachIndex(ctx, len(ids), senders, func(_ context.Context, i int) error {
		e, err := a.sendEntry(sendCtx, h, sp, ids[i], transportFor)
		done(i, e, err)
		return nil
	})
}

// forEachIndex calls fn for every index below n on workers goroutines. The
// first error cancels the context of the other calls and is returned, and
// no call starts after it.
func forEachIndex(parent context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}

feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	switch {
	case parent.Err() != nil:
		// The error of the context, not its cause, so that callers see
		// context.Canceled when a signal stopped the run.
		return parent.Err()
	case ctx.Err() != nil:
		return context.Cause(ctx)
	}
	return nil
}

// spooledTransport is a transport built from the options recorded with an
// entry, with the name send prints for it. Until one send through it got
// past setting up the session, its sends go one at a time, and the first
// send that cannot reach the server or set up the session stops the sends
// not started yet (see begin). So a wrong TLS mode, password or endpoint is
// tried once, not once per copy, and a server that is down is not asked
// again for every copy.
type spooledTransport struct {
	transport transport.Transport
	via       string
	// keepSent is false when the copy was sent with --no-sent-copy.
	keepSent bool

	mu sync.Mutex
	// proven is set once a send got past setting up the session.
	proven bool
	// probe is closed when the send that tries the transport first ends,
	// and nil while none does.
	probe chan struct{}
	// stopped is the error of the send that stopped the others.
	stopped error
}

// begin waits until a send through st may start, and reports whether it is
// the one that tries the transport first. It returns a *notTriedError once
// a send through st stopped the others, and the error of ctx when that ends
// first. A caller that begin lets start calls end with the outcome.
func (st *spooledTransport) begin(ctx context.Context) (first bool, err error) {
	for {
		st.mu.Lock()
		switch {
		case st.stopped != nil:
			st.mu.Unlock()
			return false, &notTriedError{transport: st}
		case st.proven:
			st.mu.Unlock()
			return false, nil
		case st.probe == nil:
			st.probe = make(chan struct{})
			st.mu.Unlock()
			return true, nil
		}
		probe := st.probe
		st.mu.Unlock()

		select {
		case <-probe:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// end records the outcome of a send that begin let start. A send that
// reached the server proves the transport, and one that could not reach it
// or set up the session stops the sends not started yet. A send stopped by
// ctx, or by a failure of the spool, does neither, and the next one tries
// the transport instead.
func (st *spooledTransport) end(ctx context.Context, first bool, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()

	var reached interface{ SetupFailed() bool }
	switch {
	case stopsSending(err):
		if st.stopped == nil {
			st.stopped = err
		}
	case err == nil, ctx.Err() == nil && errors.As(err, &reached):
		st.proven = true
	}
	if first {
		close(st.probe)
		st.probe = nil
	}
}

// stoppedBy returns the error that stopped the sends through st, or nil.
func (st *spooledTransport) stoppedBy() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopped
}

// stopsSending reports whether err shows that later sends through the same
// transport would fail the same way. That is a server that could not be
// reached or a session that could not be set up (transport.SetupFailed),
// for good (a wrong setting) or for now (the server is down). A server that
// stopped responding counts too, since each later send would wait as long
// and might leave one more copy whose outcome is unknown.
func stopsSending(err error) bool {
	if transport.SetupFailed(err) {
		return true
	}
	var sesErr *ses.SendError
	if errors.As(err, &sesErr) {
		return sesErr.TimedOut
	}
	var smtpErr *smtp.SendError
	return errors.As(err, &smtpErr) && !smtpErr.Interrupted && errors.Is(err, os.ErrDeadlineExceeded)
}

// notTriedError is the error of a copy that was never handed to its
// transport, because an earlier send through it could not reach the server
// or set up the session. The copy stays in the queue as it was.
type notTriedError struct {
	transport *spooledTransport
}

func (e *notTriedError) Error() string {
	return fmt.Sprintf("not tried, because sending via %s stopped at the first failure to reach the server or set up the session", e.transport.via)
}

// printStops prints, for each transport that stopped, why and how many
// copies it did not try, and how to send them: fix the cause, then run
// queue flush with the corrected transport flags. errs are the errors of
// the copies, nil for a copy that was sent. The hint for the cause comes
// from printHints, since the copy that failed first is among errs.
func (a *app) printStops(errs []error) {
	var order []*spooledTransport
	notTried := make(map[*spooledTransport]int)
	for _, err := range errs {
		var stop *notTriedError
		if !errors.As(err, &stop) {
			continue
		}
		if notTried[stop.transport] == 0 {
			order = append(order, stop.transport)
		}
		notTried[stop.transport]++
	}

	for _, st := range order {
		cause := st.stoppedBy()
		n := notTried[st]
		a.progress("stopped sending via %s at the first failure to reach the server or set up the session, so %d %s not tried and stay in the queue: %v",
			st.via, n, plural(n, "copy was", "copies were"), cause)
		a.progress("fix the cause, or wait until the server is reachable again, then run \"sealmail queue flush\"; transport flags given to it, such as %s, replace the recorded ones",
			resumeFlags(st.via))
	}
}

// printHints prints each distinct hint of sendHint for errs once, such as
// how to trust a private CA after an untrusted certificate.
func (a *app) printHints(errs []error) {
	seen := make(map[string]bool)
	for _, err := range errs {
		hint := sendHint(err)
		if hint == "" || seen[hint] {
			continue
		}
		seen[hint] = true
		a.progress("hint: %s", hint)
	}
}

// resumeFlags names the transport flags that most often fix a transport
// that via names and that cannot be reached or set up.
func resumeFlags(via string) string {
	if via == "ses" {
		return "--region, --profile or --endpoint-url"
	}
	return "--smtp-host, --smtp-port, --smtp-tls, --smtp-password-file or --smtp-ca-file"
}
