package main

import (
	"context"
	"math"
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
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(senders, len(ids)) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				e, err := a.sendEntry(sendCtx, h, sp, ids[i], transportFor)
				done(i, e, err)
			}
		})
	}

feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
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
