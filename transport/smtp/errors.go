package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	gosmtp "github.com/emersion/go-smtp"
)

// Reply is an SMTP reply (RFC 5321 section 4.2) that reported a failure.
type Reply struct {
	// Code is the three-digit reply code, such as 554.
	Code int
	// EnhancedCode is the RFC 3463 status code, such as {5, 7, 1}, or
	// zeros when the reply has none.
	EnhancedCode [3]int
	// Message is the text of the reply.
	Message string
}

func newReply(e *gosmtp.SMTPError) Reply {
	return Reply{Code: e.Code, EnhancedCode: [3]int(e.EnhancedCode), Message: e.Message}
}

// String returns the reply as the server sent it, such as
// "550 5.1.1 Mailbox unavailable".
func (r Reply) String() string {
	if r.EnhancedCode == [3]int{} {
		return fmt.Sprintf("%d %s", r.Code, r.Message)
	}
	c := r.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, c[0], c[1], c[2], r.Message)
}

// Temporary reports whether the reply is a transient failure (4xx).
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// RecipientError is a recipient that the server refused in RCPT TO.
type RecipientError struct {
	Address string
	Reply   Reply
}

// SendError is a failed submission, classified so that callers can tell
// whether the message may have been accepted and whether trying again may
// help.
type SendError struct {
	// Addr is the server's host:port.
	Addr string
	// Command is the command whose reply or exchange failed: "EHLO or
	// STARTTLS" (a failure reply while setting up the session), "AUTH",
	// "MAIL FROM", "RCPT TO", "DATA" or "end of DATA" (the reply after the
	// message data). It is "" for any other failure while connecting or
	// setting up TLS.
	Command string
	// Reply is the server's reply, or the zero Reply when the failure was
	// not a reply (a lost connection, a TLS error).
	Reply Reply
	// Refused lists the recipients that the server refused. When it is not
	// empty, the transaction was reset and nothing was sent to anyone.
	Refused []RecipientError
	// Throttled means the server refused the message because of the
	// sending rate (SES: "454 Throttling failure: Maximum sending rate
	// exceeded"). The message was not accepted.
	Throttled bool
	// QuotaExceeded means the daily sending quota is spent (SES: "454
	// Throttling failure: Daily message quota exceeded"). The message was
	// not accepted.
	QuotaExceeded bool
	// Uncertain means the connection was lost after the message data was
	// sent and before the final reply arrived, so the server may have
	// accepted the message. Sending again could deliver it twice.
	Uncertain bool
	// Interrupted means the context ended before the commit point, so the
	// session stopped before the end of the message data and nothing was
	// sent. Err is the error of the context.
	Interrupted bool
	// Setup means the session could not be set up, so nothing was sent:
	// the connection, the greeting, TLS, EHLO, STARTTLS or AUTH failed,
	// or the server replied 530 (authentication required). Every session
	// with the same options is likely to fail the same way. Temporary
	// reports whether a later attempt may succeed without a change, as
	// after a refused connection.
	Setup bool
	// Err is the underlying error, or nil for a reply alone.
	Err error

	temporary bool
}

// Temporary reports whether the message was certainly not accepted and a
// later attempt may succeed. That is a 4xx reply (such as 421, 450, 451, 452
// or 454), recipients refused only with 4xx replies, a connection lost
// before the end of the message data, or an interrupted send. It is false
// when the message may have been accepted (Uncertain), for 5xx replies, and
// for TLS or configuration errors.
func (e *SendError) Temporary() bool { return e.temporary && !e.Uncertain }

// SetupFailed reports whether the session could not be set up (Setup), for
// [transport.SetupFailed].
func (e *SendError) SetupFailed() bool { return e.Setup }

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Error returns what failed, with the server's reply, and whether the
// message may have been accepted.
func (e *SendError) Error() string {
	var msg string
	switch {
	case e.Interrupted:
		cause := fmt.Sprint(e.Err)
		if e.Command != "" {
			cause += " at " + e.Command
		}
		return fmt.Sprintf("failed to send through the SMTP server %s: interrupted, nothing was sent (%s)", e.Addr, cause)
	case len(e.Refused) > 0:
		list := make([]string, len(e.Refused))
		for i, r := range e.Refused {
			list[i] = fmt.Sprintf("%s (%s)", r.Address, r.Reply)
		}
		msg = fmt.Sprintf("the SMTP server %s refused recipients: %s", e.Addr, strings.Join(list, ", "))
	case e.Command == "AUTH" && e.Reply.Code == 535:
		msg = fmt.Sprintf("the SMTP server %s rejected the user name or password (%s); for Amazon SES, the user name is the access key ID, and the password is not the secret access key but one derived from it for the endpoint's region with \"sealmail smtp-password --region REGION\"", e.Addr, e.Reply)
	case e.Throttled || e.QuotaExceeded:
		msg = fmt.Sprintf("the SMTP server %s is throttling sends (%s); try again later", e.Addr, e.Reply)
	case e.Reply.Code != 0:
		msg = fmt.Sprintf("the SMTP server %s rejected %s: %s", e.Addr, e.Command, e.Reply)
	case e.Command != "":
		msg = fmt.Sprintf("failed to send through the SMTP server %s at %s: %v", e.Addr, e.Command, e.Err)
	default:
		msg = fmt.Sprintf("failed to send through the SMTP server %s: %v", e.Addr, e.Err)
	}

	if e.Uncertain {
		return msg + "; the server may have accepted the message anyway, so check before sending it again"
	}
	return msg + "; nothing was sent"
}

// newRefusedError reports the recipients refused in RCPT TO.
func newRefusedError(addr string, refused []RecipientError) *SendError {
	temporary := true
	for _, r := range refused {
		temporary = temporary && r.Reply.Temporary()
	}
	return &SendError{Addr: addr, Command: "RCPT TO", Refused: refused, temporary: temporary}
}

// replyError classifies a failure of command before the end of the message
// data: a reply, or a lost connection, after which the message was not
// accepted.
func (s *session) replyError(command string, err error) *SendError {
	e := &SendError{Addr: s.t.addr, Command: command, Err: err}
	var reply *gosmtp.SMTPError
	if !errors.As(err, &reply) {
		e.temporary = true
		return e
	}

	e.Reply = newReply(reply)
	e.Err = nil
	e.temporary = e.Reply.Temporary()
	// A server that requires AUTH replies 530 to MAIL FROM when no
	// credentials were given (RFC 4954 section 6).
	e.Setup = e.Reply.Code == 530
	if e.Reply.Code == 454 {
		text := strings.ToLower(e.Reply.Message)
		e.Throttled = strings.Contains(text, "sending rate")
		e.QuotaExceeded = strings.Contains(text, "quota exceeded")
	}
	return e
}

// finalReplyError classifies a failure after the final dot of DATA. A reply
// means that the message was not accepted, and anything else leaves it
// uncertain.
func (s *session) finalReplyError(err error) *SendError {
	e := s.replyError("end of DATA", err)
	if e.Reply.Code == 0 {
		e.Uncertain = true
	}
	return e
}

// errNoSTARTTLS is the text of go-smtp v0.26.0's error for a server that
// does not offer STARTTLS.
//
// NOTE: go-smtp has no error value for this, so another version may change
// the text and lose the specific message below.
const errNoSTARTTLS = "smtp: server doesn't support STARTTLS"

// setupError classifies a failure before the mail transaction: the greeting,
// the TLS handshake, EHLO or STARTTLS. It names the likely cause when the TLS
// mode does not match the port.
func (s *session) setupError(err error) *SendError {
	t := s.t
	e := &SendError{Addr: t.addr, Err: err, Setup: true}

	var reply *gosmtp.SMTPError
	if errors.As(err, &reply) {
		e.Reply = newReply(reply)
		e.Command = "EHLO or STARTTLS"
		e.temporary = e.Reply.Temporary()
		return e
	}

	var recordErr tls.RecordHeaderError
	var verifyErr *tls.CertificateVerificationError
	greeted := s.conn.received.Load() > 0
	switch {
	case err.Error() == errNoSTARTTLS:
		e.Err = errors.New("the server does not offer STARTTLS, and sealmail never sends in clear text; use implicit TLS if the port expects it (465 and 2465 do), or a server that offers STARTTLS")
	case errors.As(err, &recordErr) && t.mode == ImplicitTLS && looksLikeReply(recordErr.RecordHeader[:]):
		e.Err = fmt.Errorf("the server sent plain text (%q) where the TLS handshake was expected: the port expects STARTTLS (587, 25 and 2587 do), so use TLS mode starttls", recordErr.RecordHeader[:])
	case errors.As(err, &recordErr):
		e.Err = fmt.Errorf("the server did not respond with TLS: %w", err)
	case errors.As(err, &verifyErr):
		e.Err = fmt.Errorf("the server's certificate is not valid for %q: %w", t.opts.Host, err)
	case strings.Contains(err.Error(), "protocol version not supported"):
		// crypto/tls reports the server's protocol_version alert only as
		// text.
		e.Err = fmt.Errorf("the server does not support TLS 1.2 or later, the minimum that sealmail accepts: %w", err)
	case t.mode != ImplicitTLS && !greeted && isTimeout(err):
		e.Err = fmt.Errorf("no SMTP greeting within %v: the port may expect implicit TLS (465 and 2465 do), so try TLS mode implicit", t.opts.ConnectTimeout)
	case t.mode != ImplicitTLS && !greeted && isClosed(err):
		e.Err = errors.New("the server closed the connection without an SMTP greeting: the port may expect implicit TLS (465 and 2465 do), so try TLS mode implicit")
	case t.mode == ImplicitTLS && !greeted && isTimeout(err):
		e.Err = fmt.Errorf("no TLS handshake within %v: the port may expect STARTTLS or plain SMTP first, so try TLS mode starttls (%w)", t.opts.ConnectTimeout, err)
	case t.mode == ImplicitTLS && !greeted && isClosed(err):
		// OpenSSL 3 limited to TLS 1.1 resets the connection instead of
		// sending a protocol_version alert, so both causes are named.
		e.Err = fmt.Errorf("the server closed the connection during the TLS handshake: it may support only versions older than TLS 1.2, which sealmail refuses, or the port may expect STARTTLS or plain SMTP first (then try TLS mode starttls) (%w)", err)
	case isTimeout(err):
		e.Err = fmt.Errorf("the server did not respond within %v while setting up the session: %w", t.opts.ConnectTimeout, err)
		e.temporary = true
	default:
		e.Err = fmt.Errorf("failed to set up the session: %w", err)
		var opErr *net.OpError
		e.temporary = errors.As(err, &opErr) || isClosed(err)
	}
	return e
}

// looksLikeReply reports whether b starts like an SMTP reply: a digit from 2
// to 5 and two more digits.
func looksLikeReply(b []byte) bool {
	return len(b) >= 3 && b[0] >= '2' && b[0] <= '5' && b[1] >= '0' && b[1] <= '9' && b[2] >= '0' && b[2] <= '9'
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
