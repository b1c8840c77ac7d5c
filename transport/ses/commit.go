package ses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealmail/sealmail/transport"
)

// ReportsCommit returns true: Send calls [transport.Commit] before the body
// of a SendEmail request is written.
func (t *Transport) ReportsCommit() bool { return true }

// commitMiddleware calls transport.Commit on the first read of the request
// body of each attempt. The HTTP client reads the body only once the
// connection and its TLS session are up, right before it writes the body,
// and SES cannot accept a message whose request body it has not received.
// It is the innermost middleware, so that reads of the body for the
// signature do not count.
type commitMiddleware struct{}

func (commitMiddleware) ID() string { return "SealmailCommit" }

func (commitMiddleware) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.DeserializeOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected request type %T", in.Request)
	}
	if req.GetStream() == nil {
		// A request without a body is never a SendEmail request, but it
		// gets a commit point all the same: the hand-over to the client.
		if err := transport.Commit(ctx); err != nil {
			return middleware.DeserializeOutput{}, middleware.Metadata{}, &uncommittedError{err: err, commitErr: err}
		}
		return next.HandleDeserialize(ctx, in)
	}
	body := &commitBody{ctx: ctx, r: req.GetStream()}
	length := req.ContentLength
	withBody, err := req.SetStream(body)
	if err != nil {
		return middleware.DeserializeOutput{}, middleware.Metadata{}, fmt.Errorf("failed to set the SendEmail request body: %w", err)
	}
	// The body is not an io.Seeker, so SetStream cannot tell its length.
	withBody.ContentLength = length
	in.Request = withBody

	out, metadata, err := next.HandleDeserialize(ctx, in)
	if err != nil && !body.finish() {
		err = &uncommittedError{err: err, commitErr: body.commitErr}
	}
	return out, metadata, err
}

// addCommit adds commitMiddleware to the stack of one call.
func addCommit(stack *middleware.Stack) error {
	return stack.Deserialize.Add(commitMiddleware{}, middleware.After)
}

// commitBody is the request body of one attempt, which calls
// transport.Commit before its first byte is read.
type commitBody struct {
	ctx context.Context
	r   io.Reader

	// mu makes finish wait for a Read that is in Commit, and keeps later
	// reads from passing the commit point once the attempt is over.
	mu        sync.Mutex
	committed bool
	finished  bool
	commitErr error
}

func (b *commitBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.committed {
		if b.finished {
			return 0, errors.New("failed to read the request body: the attempt is over")
		}
		if err := transport.Commit(b.ctx); err != nil {
			b.commitErr = err
			return 0, err
		}
		// The wait at the wire gate comes after the commit point, so a
		// process killed during it leaves the entry unconfirmed, the safe
		// side. A wait that ends with the context writes no byte of the
		// body, so the attempt still counts as unsent.
		if turn, ok := b.ctx.Value(wireKey{}).(wireTurn); ok {
			if err := turn.gate.Wait(b.ctx, turn.rate, turn.recipients); err != nil {
				b.commitErr = err
				return 0, err
			}
		}
		b.committed = true
	}
	return b.r.Read(p)
}

// finish ends the attempt for the body and reports whether it passed the
// commit point.
func (b *commitBody) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finished = true
	return b.committed
}

// uncommittedError is the error of an attempt that failed before its
// request body was written, so SES cannot have accepted the message.
type uncommittedError struct {
	err error
	// commitErr is the error of transport.Commit, when that stopped the
	// attempt.
	commitErr error
}

func (e *uncommittedError) Error() string {
	if e.commitErr != nil {
		return fmt.Sprintf("failed to record the commit point before the request body: %v", e.commitErr)
	}
	return e.err.Error()
}

// Unwrap returns the error of the attempt.
func (e *uncommittedError) Unwrap() error { return e.err }

// Is reports whether the error of transport.Commit matches target, such as
// context.Canceled, which the error of the HTTP client may not wrap.
func (e *uncommittedError) Is(target error) bool {
	return e.commitErr != nil && errors.Is(e.commitErr, target)
}
