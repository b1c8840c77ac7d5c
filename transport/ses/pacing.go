package ses

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/internal/spacing"
)

// DefaultMaxSendRate is the sending rate Send paces to when GetAccount
// fails, in recipients per second. It is the rate of an account in the SES
// sandbox, the lowest SES gives any account, so it is never too fast.
const DefaultMaxSendRate = 1.0

// NoPacing, as Options.MaxSendRate, turns pacing off.
const NoPacing = -1.0

// paceFraction is the share of the maximum send rate that Send uses. Delays
// on the way to SES bunch requests together, and the margin keeps a
// one-second window from holding more than the maximum all the same.
const paceFraction = 0.9

// accountRetryInterval is the time a fallback rate is kept after a failed
// GetAccount without a 4xx status, since such a failure may be transient.
const accountRetryInterval = time.Minute

// PacingSource is the origin of the sending rate of a Transport.
type PacingSource string

const (
	// PacingOptions is a rate given in Options.MaxSendRate.
	PacingOptions PacingSource = "options"
	// PacingAccount is the MaxSendRate of GetAccount.
	PacingAccount PacingSource = "account"
	// PacingDefault is DefaultMaxSendRate, used because GetAccount failed.
	PacingDefault PacingSource = "default"
	// PacingOff means Send does not pace, because Options.MaxSendRate is
	// NoPacing.
	PacingOff PacingSource = "off"
)

// Pacing is the sending rate that Send paces SendEmail requests to.
type Pacing struct {
	// MaxSendRate is the limit in recipients per second, 0 when pacing is
	// off. Send keeps to 90 percent of it.
	MaxSendRate float64
	// Rate is the rate Send keeps to, in recipients per second: 90 percent
	// of MaxSendRate, or Options.RateLimit when that is lower. It is 0 when
	// Send does not pace.
	Rate float64
	// Source is the origin of MaxSendRate.
	Source PacingSource
	// Err is the error of GetAccount when Source is PacingDefault, such as
	// a missing ses:GetAccount permission. Callers may show it as a
	// warning, and it does not stop Send.
	Err error
}

// Pacing returns the sending rate Send paces to. Unless Options.MaxSendRate
// sets it, the first call reads the account's MaxSendRate with GetAccount
// and later calls reuse it. When GetAccount fails, the rate is
// DefaultMaxSendRate and Err contains the cause. The error is not nil only when ctx
// ends first.
func (t *Transport) Pacing(ctx context.Context) (Pacing, error) {
	p, err := t.accountPacing(ctx)
	if err != nil {
		return Pacing{}, err
	}
	p.Rate = p.MaxSendRate * paceFraction
	if t.rateLimit > 0 && (p.Rate == 0 || t.rateLimit < p.Rate) {
		p.Rate = t.rateLimit
	}
	return p, nil
}

// accountPacing returns the pacing of Options.MaxSendRate, or of GetAccount,
// without the rate Send keeps to.
func (t *Transport) accountPacing(ctx context.Context) (Pacing, error) {
	if t.maxSendRate > 0 {
		return Pacing{MaxSendRate: t.maxSendRate, Source: PacingOptions}, nil
	}
	if t.maxSendRate < 0 {
		return Pacing{Source: PacingOff}, nil
	}

	// The semaphore lets one goroutine call GetAccount while the others
	// wait for its result, or for their own context to end.
	select {
	case t.accountSem <- struct{}{}:
	case <-ctx.Done():
		return Pacing{}, ctx.Err()
	}
	defer func() { <-t.accountSem }()

	if t.pacing != nil && (t.pacingExpires.IsZero() || time.Now().Before(t.pacingExpires)) {
		return *t.pacing, nil
	}

	p, expires, err := t.readPacing(ctx)
	if err != nil {
		return Pacing{}, err
	}
	t.pacing, t.pacingExpires = &p, expires
	return p, nil
}

// readPacing calls GetAccount and returns the pacing it gives, and when a
// fallback to DefaultMaxSendRate should be tried again (zero for never).
func (t *Transport) readPacing(ctx context.Context) (Pacing, time.Time, error) {
	account, err := t.Account(ctx)
	if err != nil && ctx.Err() != nil {
		return Pacing{}, time.Time{}, ctx.Err()
	}

	fallback := Pacing{MaxSendRate: DefaultMaxSendRate, Source: PacingDefault}
	switch {
	case err != nil:
		fallback.Err = err
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 {
			// SES refused the call, as it will again: no permission,
			// or an emulator without GetAccount.
			return fallback, time.Time{}, nil
		}
		return fallback, time.Now().Add(accountRetryInterval), nil
	case account.MaxSendRate <= 0:
		fallback.Err = fmt.Errorf("GetAccount returned a maximum send rate of %v recipients per second", account.MaxSendRate)
		return fallback, time.Time{}, nil
	}
	return Pacing{MaxSendRate: account.MaxSendRate, Source: PacingAccount}, time.Time{}, nil
}

// pacer spaces requests evenly: a request for n recipients holds back the
// next one by n divided by the rate. Unlike a token bucket it saves up no
// burst while idle. A request for more recipients than the rate allows in a
// second still goes, as SES accepts it and then rejects requests until the
// rate has caught up. It is safe for concurrent use.
type pacer struct {
	mu      sync.Mutex
	started bool
	// next is the earliest time the next request may start.
	next time.Time
	// pending is the number of recipients of the first request, which went
	// before the rate was known. next does not yet count them.
	pending int
}

// first reports whether this is the first request of the pacer, which may
// go at once, and counts its recipients for later.
func (p *pacer) first(recipients int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return false
	}
	p.started = true
	p.next = time.Now()
	p.pending = recipients
	return true
}

// wait blocks until a request for recipients may start at rate recipients
// per second, or ctx ends.
func (p *pacer) wait(ctx context.Context, rate float64, recipients int) error {
	p.mu.Lock()
	p.next = p.next.Add(spacing.Interval(p.pending, rate))
	p.pending = 0
	start := time.Now()
	if p.next.After(start) {
		start = p.next
	}
	p.next = start.Add(spacing.Interval(recipients, rate))
	p.mu.Unlock()

	return spacing.SleepUntil(ctx, start)
}

// waitTurn blocks until a SendEmail request for recipients may go, and
// returns the rate it paced to: 0 when Send does not pace, or when this is
// the first request, which goes before the rate is known.
func (t *Transport) waitTurn(ctx context.Context, recipients int) (float64, error) {
	if t.maxSendRate < 0 && t.rateLimit == 0 || t.pacer.first(recipients) {
		return 0, nil
	}

	p, err := t.Pacing(ctx)
	if err != nil {
		return 0, err
	}
	if p.Rate <= 0 {
		return 0, nil
	}
	return p.Rate, t.pacer.wait(ctx, p.Rate, recipients)
}

// paceMiddleware makes every attempt of a SendEmail call, retries included,
// wait for its turn. It sits after the retry middleware, so that each
// attempt waits, and before signing, so that a long wait cannot age the
// signature. It passes the rate on to the commit point, where the request
// waits once more at the wire gate (see wireTurn).
type paceMiddleware struct {
	transport  *Transport
	recipients int
}

func (m *paceMiddleware) ID() string { return "SealmailPacing" }

func (m *paceMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	var rate float64
	if turn, ok := ctx.Value(turnKey{}).(*turn); ok && turn.taken.CompareAndSwap(false, true) {
		// The first attempt takes the turn that WaitTurn waited for.
		rate = turn.rate
	} else {
		var err error
		if rate, err = m.transport.waitTurn(ctx, m.recipients); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("failed to wait for the SES sending rate: %w", err)
		}
	}
	ctx, stop, err := transport.DetachInFlight(ctx)
	if err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("failed to start the SES request: %w", err)
	}
	defer stop()
	if !m.transport.paced() {
		return next.HandleFinalize(ctx, in)
	}
	ctx = context.WithValue(ctx, wireKey{}, wireTurn{gate: &m.transport.wire, rate: rate, recipients: m.recipients})
	return next.HandleFinalize(ctx, in)
}

// paced reports whether Send paces its requests.
func (t *Transport) paced() bool {
	return t.maxSendRate >= 0 || t.rateLimit > 0
}

// wireKey is the context key of the wireTurn of one SendEmail attempt.
type wireKey struct{}

// wireTurn is the wait of one SendEmail attempt at the commit point. The
// pacer gives each request its turn before the spool records the attempt,
// and a slow disk sync there can hold back several requests until they
// leave together, above the rate in a sliding second. The wire gate, shared
// by every goroutine of the Transport, spaces them again just before their
// request bodies are written.
type wireTurn struct {
	gate *spacing.Gate
	// rate is the rate the pacer paced the attempt to, 0 when it was not
	// known yet.
	rate       float64
	recipients int
}

// turnKey is the context key of WaitTurn.
type turnKey struct{}

// turn is the turn that WaitTurn waited for.
type turn struct {
	// taken records whether Send took the turn.
	taken atomic.Bool
	// rate is the rate of the turn, as waitTurn returns it.
	rate float64
}

// WaitTurn blocks until a message to the recipients of env may go at the
// sending rate. It returns the context with which Send takes that turn
// instead of waiting for another, though a retry of Send waits again. A
// caller that records a send before it starts, as package spool does, waits
// here first, so that the record is not written long before the request
// leaves.
func (t *Transport) WaitTurn(ctx context.Context, env transport.Envelope) (context.Context, error) {
	rate, err := t.waitTurn(ctx, len(env.Recipients))
	if err != nil {
		return ctx, fmt.Errorf("failed to wait for the SES sending rate: %w", err)
	}
	return context.WithValue(ctx, turnKey{}, &turn{rate: rate}), nil
}

// addPacing returns the API option that adds paceMiddleware to one call,
// before timeoutMiddleware, so that the wait for a turn does not count
// against the timeout of the attempt.
func (t *Transport) addPacing(recipients int) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(&paceMiddleware{transport: t, recipients: recipients}, timeoutMiddleware{}.ID(), middleware.Before)
	}
}
