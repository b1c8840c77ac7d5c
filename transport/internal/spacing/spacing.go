// Package spacing keeps the requests of a transport apart as they leave.
// A burst of requests that were delayed on their way, such as by a slow
// disk sync of a spool record, then cannot exceed a sending rate counted
// over a sliding second.
package spacing

import (
	"context"
	"sync"
	"time"
)

// Gate spaces requests that share a rate: after a request for n
// recipients, the next one leaves no sooner than n divided by the rate
// later. At a constant rate r, the requests that leave in any one second
// are then for at most r recipients, plus those of one more request. Unlike
// a token bucket it saves up no burst while idle. It is safe for
// concurrent use, and its zero value is ready.
type Gate struct {
	mu sync.Mutex
	// last is the time the latest request was let through, or is to leave,
	// and lastRecipients its number of recipients.
	last           time.Time
	lastRecipients int
	// rate is the latest rate above 0 that Wait was given.
	rate float64
}

// Wait blocks until a request for recipients may leave at rate recipients
// per second, or ctx ends. The interval after the previous request is
// computed with the rate of this call, so a request that went before the
// rate was known holds back the next one all the same. A rate of 0 means
// the rate is not known yet: the latest rate that an earlier call gave
// applies, and the request leaves at once when there is none. The turn
// stays taken when ctx ends first.
func (g *Gate) Wait(ctx context.Context, rate float64, recipients int) error {
	g.mu.Lock()
	if rate > 0 {
		g.rate = rate
	}
	rate = g.rate
	leave := time.Now()
	if rate > 0 && !g.last.IsZero() {
		if earliest := g.last.Add(Interval(g.lastRecipients, rate)); earliest.After(leave) {
			leave = earliest
		}
	}
	g.last, g.lastRecipients = leave, recipients
	g.mu.Unlock()

	return SleepUntil(ctx, leave)
}

// Interval returns the time that a request for recipients takes up at rate
// recipients per second.
func Interval(recipients int, rate float64) time.Duration {
	return time.Duration(float64(recipients) / rate * float64(time.Second))
}

// SleepUntil blocks until t, or until ctx ends and returns its error.
func SleepUntil(ctx context.Context, t time.Time) error {
	delay := time.Until(t)
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
