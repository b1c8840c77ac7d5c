package ses

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealmail/sealmail/transport"
)

// Send implements transport.Transport. The id is the SES message ID.
//
// It reads raw fully, checks the size, the recipients and [Preflight]
// before it calls SES, and hands the bytes to the SDK unchanged (the SDK
// base64-encodes them). Each attempt waits for its turn at the sending rate
// of [Transport.Pacing]. Its commit point (see [transport.Commit]) is the
// first read of the request body by the HTTP client, once the connection is
// set up and just before the body is written to it. An error from SES is a
// *SendError.
func (t *Transport) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(raw, MaxRawSize+1))
	if err != nil {
		return "", fmt.Errorf("failed to read the raw message: %w", err)
	}
	if len(data) > MaxRawSize {
		return "", fmt.Errorf("raw message larger than the SES maximum of %d bytes; attach less or share large files another way", MaxRawSize)
	}
	if err := Check(env, data); err != nil {
		return "", err
	}

	input := &sesv2.SendEmailInput{
		Content: &types.EmailContent{
			Raw: &types.RawMessage{Data: data},
		},
		// SES delivers to the Destination addresses only, and a Bcc
		// recipient appears nowhere else.
		Destination: &types.Destination{
			ToAddresses: append([]string(nil), env.Recipients...),
		},
	}
	if t.configurationSet != "" {
		input.ConfigurationSetName = aws.String(t.configurationSet)
	}
	for _, tag := range t.tags {
		input.EmailTags = append(input.EmailTags, types.MessageTag{
			Name:  aws.String(tag.Name),
			Value: aws.String(tag.Value),
		})
	}

	if isProtected(data) {
		input.ConfigurationOverrides = trackingOff()
	}

	middlewares := func(o *sesv2.Options) {
		o.APIOptions = append(o.APIOptions, t.addPacing(len(env.Recipients)), addCommit)
	}
	out, err := t.client.SendEmail(ctx, input, middlewares)
	if err != nil {
		return "", newSendError(err)
	}
	id := aws.ToString(out.MessageId)
	if id == "" {
		return "", errors.New("failed to send through SES: the response has no message ID")
	}
	return id, nil
}

// Check runs every test Send makes before it calls SES: the envelope
// recipients, the size and [Preflight]. A caller with several copies to send
// checks them all first, so that none leaves when one would be rejected.
func Check(env transport.Envelope, raw []byte) error {
	if err := checkRecipients(env.Recipients); err != nil {
		return err
	}
	if len(raw) > MaxRawSize {
		// Base64 in the MIME tree and the armor of an encrypted message
		// make a raw message about 1.9 times the size of its attachments
		// (measured with sealmail compose on random data).
		return fmt.Errorf("raw message of %d bytes is larger than the SES maximum of %d bytes; an encrypted message is about 1.9 times the size of its attachments, so attach at most about 20 MB, or share large files another way", len(raw), MaxRawSize)
	}
	return Preflight(raw)
}

// checkRecipients rejects an envelope SES cannot take: no recipients, more
// than MaxRecipients, or an address that is empty, has white space or
// control characters, or is not ASCII (SES has no SMTPUTF8).
func checkRecipients(recipients []string) error {
	if len(recipients) == 0 {
		return errors.New("missing envelope recipients: SES needs at least one")
	}
	if len(recipients) > MaxRecipients {
		return fmt.Errorf("too many envelope recipients: %d, SES accepts at most %d per message; send to fewer at a time", len(recipients), MaxRecipients)
	}

	for _, addr := range recipients {
		if addr == "" {
			return errors.New("invalid envelope recipient: empty address")
		}
		for i := 0; i < len(addr); i++ {
			if c := addr[i]; c <= ' ' || c >= 0x7f {
				return fmt.Errorf("invalid envelope recipient %q: it must be ASCII without white space or control characters", addr)
			}
		}
	}
	return nil
}

// SendError is an error SendEmail returned, classified so that callers can
// tell whether trying again may help.
type SendError struct {
	// Code is the SES error code, such as "MessageRejected", or "" when
	// there was no response.
	Code string
	// StatusCode is the HTTP status of the response, or 0 when there was
	// no response.
	StatusCode int
	// Throttled means SES refused the request because of the sending rate,
	// and kept doing so until the attempts ran out. The message was not
	// accepted.
	Throttled bool
	// QuotaExceeded means the daily sending quota is spent. The message was
	// not accepted.
	QuotaExceeded bool
	// Unsent means the request was never sent: the connection or the TLS
	// certificate check failed, or the send was interrupted.
	Unsent bool
	// Interrupted means the context ended before the commit point of the
	// last attempt, so that attempt stopped before its request body was
	// written. Unsent is set too.
	Interrupted bool
	// Uncertain means the request may have reached SES and the message may
	// have been accepted: an HTTP 5xx, a timeout or a connection lost after
	// sending. Sending again could deliver the message twice.
	Uncertain bool
	// Setup means SES could not be reached or rejected the settings of the
	// Transport, so nothing was accepted. The network causes are a name of
	// the endpoint that does not resolve, a connection refused or timed out,
	// and a failed TLS handshake or certificate check. The other causes are
	// missing or rejected credentials (HTTP 401 or 403) and a configuration
	// set that does not exist. Every later request with the same settings
	// is likely to fail the same way.
	Setup bool
	// TimedOut means the attempt got no complete response within
	// Options.RequestTimeout. Unsent is set too when that happened before
	// the request body was written, and Uncertain when it happened after.
	TimedOut bool
	// Message is the error message SES returned, or "".
	Message string
	// Err is the error of the SDK.
	Err error
}

func newSendError(err error) *SendError {
	e := &SendError{
		Err:           err,
		Throttled:     isThrottling(err),
		QuotaExceeded: isQuotaExceeded(err),
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code = apiErr.ErrorCode()
		e.Message = apiErr.ErrorMessage()
	}

	e.StatusCode = responseStatus(err)
	var timedOut *timeoutError
	e.TimedOut = errors.As(err, &timedOut)

	var sendErr *smithyhttp.RequestSendError
	var canceled *smithy.CanceledError
	var uncommitted *uncommittedError
	switch {
	case failedInOtherService(err):
		// The credential chain failed before the request was signed.
		e.Unsent = true
	case e.StatusCode >= 500:
		e.Uncertain = true
	case e.StatusCode != 0:
		// SES returned a 4xx status, so it did not accept the message.
	case errors.As(err, &uncommitted):
		e.Unsent = true
	case errors.As(err, &canceled):
		// The context ended while the HTTP client had the request, which
		// may have reached SES by then. smithy-go puts this error in place
		// of the RequestSendError.
		e.Uncertain = true
	case !errors.As(err, &sendErr):
		// The SDK failed before it handed the request to the HTTP client:
		// no credentials, no endpoint, or a request it could not sign.
		e.Unsent = true
	case failedBeforeSending(err):
		e.Unsent = true
	default:
		e.Uncertain = true
	}
	e.Interrupted = e.Unsent && !e.TimedOut && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
	e.Setup = setupFailed(e, err)
	return e
}

// setupFailed reports whether e, made from the SDK's error err, means that
// SES could not be reached or rejected the settings (see SendError.Setup).
func setupFailed(e *SendError, err error) bool {
	switch {
	case e.Interrupted || e.Uncertain:
		return false
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return true
	case e.Code == "NotFoundException":
		// SendEmail returns it for a configuration set that does not exist.
		return true
	case !e.Unsent:
		return false
	}

	var uncommitted *uncommittedError
	if errors.As(err, &uncommitted) && uncommitted.commitErr != nil {
		// The caller's record of the commit point failed, not SES.
		return false
	}
	var sendErr *smithyhttp.RequestSendError
	return e.TimedOut || failedInOtherService(err) || !errors.As(err, &sendErr) || failedBeforeSending(err)
}

// SetupFailed reports whether SES could not be reached or rejected the
// settings (Setup), for [transport.SetupFailed].
func (e *SendError) SetupFailed() bool { return e.Setup }

// failedInOtherService reports whether err is the error of a service other
// than SES, such as the instance metadata service of the credential chain.
func failedInOtherService(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if opErr, ok := err.(*smithy.OperationError); ok && opErr.ServiceID != sesv2.ServiceID {
			return true
		}
	}
	return false
}

// responseStatus returns the HTTP status of the SES response in err, or 0
// when SES did not respond. An error of another service inside err, such as
// the instance metadata service that the credential chain calls, ends the
// search: its status is not the status of SES.
func responseStatus(err error) int {
	for ; err != nil; err = errors.Unwrap(err) {
		if opErr, ok := err.(*smithy.OperationError); ok && opErr.ServiceID != sesv2.ServiceID {
			return 0
		}
		if status, ok := err.(interface{ HTTPStatusCode() int }); ok {
			return status.HTTPStatusCode()
		}
	}
	return 0
}

// failedBeforeSending reports whether err shows that the request never left:
// the connection could not be made, the server's certificate or TLS record
// was invalid, or the server sent an alert that only ends a handshake
// (RFC 8446 section 6.2). Other TLS alerts stay uncertain.
func failedBeforeSending(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	// crypto/tls returns an alert from the server as a net.OpError with Op
	// "remote error" and an unexported error type, so the alert is matched
	// by its text.
	if errors.As(err, &opErr) && opErr.Op == "remote error" && opErr.Err != nil {
		switch opErr.Err.Error() {
		case "tls: handshake failure", "tls: protocol version not supported", "tls: insufficient security level":
			return true
		}
	}

	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	return errors.As(err, &verifyErr) || errors.As(err, &recordErr)
}

// Error returns the error code and message SES returned, or else the SDK's
// error, and states when the message may have been accepted all the same.
func (e *SendError) Error() string {
	msg := fmt.Sprintf("failed to send through SES: %v", e.Err)
	switch {
	case e.Interrupted:
		return fmt.Sprintf("failed to send through SES: interrupted, nothing was sent (%v)", contextErr(e.Err))
	case e.TimedOut:
		var timedOut *timeoutError
		errors.As(e.Err, &timedOut)
		msg = fmt.Sprintf("failed to send through SES: no response within %v", timedOut.timeout)
		if e.Unsent {
			msg += " before the request body could be sent; check the endpoint and the network"
		}
	case e.Throttled:
		msg = fmt.Sprintf("SES kept throttling the request until the attempts ran out, so the message was not accepted; try again later (%v)", e.Err)
	case e.StatusCode == http.StatusRequestEntityTooLarge:
		msg = "the SES endpoint rejected the request as too large (HTTP 413); the message was not accepted, so attach less"
	case e.Unsent && strings.Contains(e.Err.Error(), "get credentials"):
		// NOTE: the SDK has no error type for a missing credential, only
		// this text, so another SDK version may lose the hint.
		msg = "failed to send through SES: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use a profile of the AWS configuration"
	case e.Code != "" && e.Message != "" && e.StatusCode >= 500:
		msg = fmt.Sprintf("SES failed: %s (%s, HTTP %d)", e.Message, e.Code, e.StatusCode)
	case e.Code != "" && e.Message != "":
		msg = fmt.Sprintf("SES refused the message: %s (%s, HTTP %d)", e.Message, e.Code, e.StatusCode)
	}
	if hint := e.hint(); hint != "" {
		msg += "; " + hint
	}
	switch {
	case e.Uncertain:
		msg += "; SES may have accepted the message anyway, so check before sending it again"
	case e.Unsent && !strings.Contains(msg, "not accepted"):
		msg += "; nothing was sent"
	}
	return msg
}

// hint returns what a user can do about a refusal that no retry can help,
// or "".
func (e *SendError) hint() string {
	switch {
	case e.Code == "MailFromDomainNotVerifiedException":
		return "verify the MAIL FROM domain of the sender identity in SES"
	case strings.Contains(strings.ToLower(e.Message), "not verified"):
		return "verify the sender's address or domain in SES; in the SES sandbox every recipient must be verified too"
	case e.Code == "AccountSuspendedException":
		return "SES suspended sending for the account; see the reputation dashboard of the SES console"
	case e.Code == "SendingPausedException":
		return "sending is paused for the account or the configuration set; resume it in SES"
	}
	return ""
}

// Unwrap returns the SDK's error.
func (e *SendError) Unwrap() error { return e.Err }

// contextErr returns the error of the context that err wraps, or err.
func contextErr(err error) error {
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ctxErr) {
			return ctxErr
		}
	}
	return err
}

// Temporary reports whether the message was certainly not accepted and a
// later attempt may succeed: throttling, a spent daily quota, a failed
// connection or an interrupted send. It is false when a retry could deliver twice (Uncertain) or
// when SES rejected the message itself.
func (e *SendError) Temporary() bool {
	return e.Throttled || e.QuotaExceeded || e.Unsent
}
