package ses

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// DefaultRequestTimeout bounds each attempt of an SES call when
// Options.RequestTimeout is zero.
const DefaultRequestTimeout = 60 * time.Second

// errAttemptTimedOut is the cause of the context of an attempt that
// timeoutMiddleware ended.
var errAttemptTimedOut = errors.New("the SES request timed out")

// timeoutMiddleware bounds each attempt of a call: the credentials, the
// connection, the request and the response. Without it the SDK waits as
// long as the endpoint keeps the connection open, so a stalled endpoint
// would hold a send for good. For SendEmail it runs after paceMiddleware,
// so that the wait for a turn does not count.
type timeoutMiddleware struct {
	timeout time.Duration
}

func (timeoutMiddleware) ID() string { return "SealmailTimeout" }

func (m timeoutMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, m.timeout, errAttemptTimedOut)
	defer cancel()
	out, metadata, err := next.HandleFinalize(ctx, in)
	if err != nil && ctx.Err() != nil && context.Cause(ctx) == errAttemptTimedOut {
		err = &timeoutError{timeout: m.timeout, err: err}
	}
	return out, metadata, err
}

// addTimeout returns the API option that adds timeoutMiddleware to every
// call of a client.
func addTimeout(timeout time.Duration) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(timeoutMiddleware{timeout: timeout}, "Retry", middleware.After)
	}
}

// timeoutError is the error of an attempt that timeoutMiddleware ended.
type timeoutError struct {
	timeout time.Duration
	err     error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no response from SES within %v: %v", e.timeout, e.err)
}

// Unwrap returns the error of the attempt.
func (e *timeoutError) Unwrap() error { return e.err }
