package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/sealmail/sealmail/transport"
)

// Send implements transport.Transport. It connects, secures the connection,
// authenticates, and submits raw unchanged: go-smtp adds the dot-stuffing of
// RFC 5321 section 4.5.2 on the wire. The id is the queue ID in the server's
// final reply ("250 Ok <id>" from SES, "queued as <id>" from others), or
// the whole reply text when it has no ID.
//
// With [Options.MaxSendRate] it first waits for its turn. Its commit point
// (see [transport.Commit]) comes after the message data and before the final
// dot that ends it. There the final dots are spaced again by MaxSendRate,
// across all goroutines, so that sessions delayed on their way cannot send
// them in a burst. Once the server accepted the message, Send waits at most
// quitTimeout for the reply to QUIT. Every error after the envelope check is
// a *SendError.
func (t *Transport) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	if err := checkEnvelope(env); err != nil {
		return "", err
	}
	if err := t.waitTurn(ctx, len(env.Recipients)); err != nil {
		return "", err
	}
	ctx, stop, err := transport.DetachInFlight(ctx)
	if err != nil {
		return "", &SendError{Addr: t.addr, Err: err, Interrupted: true, temporary: true}
	}
	defer stop()

	s, err := t.open(ctx)
	if err != nil {
		return "", err
	}
	defer s.close()

	id, err := s.submit(env, raw)
	if err != nil {
		return "", s.contextError(err)
	}
	return id, nil
}

// ReportsCommit returns true: Send calls [transport.Commit] before the end
// of the message data.
func (t *Transport) ReportsCommit() bool { return true }

// quitTimeout is how long Send waits for the reply to QUIT after the server
// accepted the message. RFC 5321 section 4.1.1.10 requires the client to
// send QUIT before it closes the connection, and recommends (SHOULD) that
// it wait for the reply. But the reply changes nothing, and until Send
// returns the caller cannot record that the message was accepted.
const quitTimeout = time.Second

// session is one connection to the server, ready for a mail transaction.
type session struct {
	t      *Transport
	ctx    context.Context
	conn   *limitedConn
	client *gosmtp.Client
	// stop ends the watch that closes the connection when ctx is done.
	stop func() bool
	// committed is set once the session passed the commit point, after
	// which the server may accept the message.
	committed bool
}

// open connects and does everything before MAIL FROM: the greeting, TLS,
// EHLO and AUTH, all within ConnectTimeout except AUTH.
func (t *Transport) open(ctx context.Context) (*session, error) {
	dialer := net.Dialer{Timeout: t.opts.ConnectTimeout}
	raw, err := dialer.DialContext(ctx, "tcp", t.addr)
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		return nil, &SendError{Addr: t.addr, Err: ctxErr, Interrupted: true, temporary: true}
	}
	if err != nil {
		return nil, &SendError{Addr: t.addr, Err: fmt.Errorf("failed to connect: %w", err), temporary: true, Setup: true}
	}

	conn := &limitedConn{Conn: raw}
	conn.setLimit(time.Now().Add(t.opts.ConnectTimeout))
	s := &session{t: t, ctx: ctx, conn: conn}
	s.stop = context.AfterFunc(ctx, func() { raw.Close() })

	if err := s.start(); err != nil {
		s.close()
		return nil, s.contextError(err)
	}
	if err := s.authenticate(); err != nil {
		s.close()
		var sendErr *SendError
		if errors.As(err, &sendErr) {
			sendErr.Setup = true
		}
		return nil, s.contextError(err)
	}

	conn.setLimit(time.Time{})
	s.client.CommandTimeout = t.opts.CommandTimeout
	s.client.SubmissionTimeout = t.opts.DataTimeout
	return s, nil
}

// start reads the greeting, sets up TLS and sends the EHLO that the mail
// transaction runs under.
func (s *session) start() error {
	t := s.t
	config := &tls.Config{
		ServerName: t.opts.Host,
		MinVersion: tls.VersionTLS12,
		RootCAs:    t.opts.RootCAs,
	}

	switch t.mode {
	case ImplicitTLS:
		tlsConn := tls.Client(s.conn, config)
		if err := tlsConn.HandshakeContext(s.ctx); err != nil {
			tlsConn.Close()
			return s.setupError(err)
		}
		s.client = gosmtp.NewClient(tlsConn)
	case StartTLS:
		// NewClientStartTLS reads the greeting and sends only EHLO
		// (HELO if EHLO is not understood) and STARTTLS. It fails when
		// STARTTLS is not offered, and never goes on in clear text.
		client, err := gosmtp.NewClientStartTLS(s.conn, config)
		if err != nil {
			return s.setupError(err)
		}
		s.client = client
	default:
		s.client = gosmtp.NewClient(s.conn)
	}

	// In STARTTLS mode the TLS handshake runs here, on the first write
	// after STARTTLS. RFC 3207 section 4.2 requires a new EHLO after TLS.
	if err := s.client.Hello(t.opts.HELOName); err != nil {
		return s.setupError(err)
	}

	if t.mode == "" {
		return nil
	}
	state, ok := s.client.TLSConnectionState()
	if !ok || !state.HandshakeComplete || state.Version < tls.VersionTLS12 {
		return &SendError{Addr: t.addr, Err: errors.New("failed to set up TLS: the connection is not protected by TLS 1.2 or later"), Setup: true}
	}
	return nil
}

// authenticate sends AUTH PLAIN, or AUTH LOGIN when the server offers only
// that, when credentials are set. It runs only after start, so only over TLS
// (checkOptions rejects credentials for plain SMTP).
func (s *session) authenticate() error {
	t := s.t
	if t.opts.Username == "" {
		return nil
	}
	if _, secure := s.client.TLSConnectionState(); !secure {
		return &SendError{Addr: t.addr, Err: errors.New("failed to authenticate: the connection is not protected by TLS, so the password was not sent")}
	}

	offered, mechanisms := s.client.Extension("AUTH")
	if !offered {
		return &SendError{Addr: t.addr, Command: "AUTH", Err: errors.New("failed to authenticate: the server does not offer AUTH, but a user name and password were given; check the host and port")}
	}

	var client sasl.Client
	switch {
	case s.client.SupportsAuth(sasl.Plain):
		client = sasl.NewPlainClient("", t.opts.Username, t.opts.Password)
	case s.client.SupportsAuth(sasl.Login):
		client = &loginClient{username: t.opts.Username, password: t.opts.Password}
	default:
		return &SendError{Addr: t.addr, Command: "AUTH", Err: fmt.Errorf("failed to authenticate: the server offers AUTH %s, but only PLAIN and LOGIN are supported", mechanisms)}
	}
	if err := s.client.Auth(client); err != nil {
		return s.replyError("AUTH", err)
	}
	return nil
}

// loginClient is the LOGIN mechanism of draft-murchison-sasl-login, which
// has no initial response: the server requests the user name and then the
// password. go-sasl's LOGIN client sends the user name as an initial
// response instead.
type loginClient struct {
	username, password string
}

func (c *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

// Next returns the user name or the password, as the challenge requests.
func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	switch strings.ToLower(string(challenge)) {
	case "username:":
		return []byte(c.username), nil
	case "password:":
		return []byte(c.password), nil
	}
	return nil, fmt.Errorf("unexpected AUTH LOGIN challenge %q", challenge)
}

// submit runs one mail transaction and returns the queue ID.
func (s *session) submit(env transport.Envelope, raw io.Reader) (string, error) {
	if err := s.client.Mail(env.From, nil); err != nil {
		return "", s.replyError("MAIL FROM", err)
	}

	var refused []RecipientError
	for _, rcpt := range env.Recipients {
		err := s.client.Rcpt(rcpt, nil)
		var reply *gosmtp.SMTPError
		switch {
		case err == nil:
		case errors.As(err, &reply):
			refused = append(refused, RecipientError{Address: rcpt, Reply: newReply(reply)})
		default:
			return "", s.replyError("RCPT TO", err)
		}
	}
	if len(refused) > 0 {
		// Nothing is delivered unless every recipient is accepted.
		_ = s.client.Reset()
		return "", newRefusedError(s.t.addr, refused)
	}

	data, err := s.client.Data()
	if err != nil {
		return "", s.replyError("DATA", err)
	}
	source := &errorReader{r: raw}
	if _, err := io.Copy(data, source); err != nil {
		if source.err != nil {
			// Closing the connection without the final dot makes the
			// server discard what it received.
			return "", &SendError{Addr: s.t.addr, Command: "DATA", Err: fmt.Errorf("failed to read the raw message: %w", source.err)}
		}
		return "", s.replyError("DATA", err)
	}
	// The final dot that CloseWithResponse writes completes the message,
	// so the server may accept it from then on.
	if err := transport.Commit(s.ctx); err != nil {
		return "", s.commitError(err)
	}
	// The pacer gives each session its turn before the spool records the
	// attempt, and a slow disk sync or a slow server can hold back several
	// sessions until their final dots leave together, above the rate in a
	// sliding second. The wire gate, shared by every goroutine of the
	// Transport, spaces the final dots again. A process killed during this
	// wait leaves the entry unconfirmed, the safe side, and a wait that
	// ends with the context sends no dot, so nothing was accepted.
	if rate := s.t.opts.MaxSendRate; rate > 0 {
		if err := s.t.wire.Wait(s.ctx, rate, len(env.Recipients)); err != nil {
			return "", s.commitError(err)
		}
	}
	s.committed = true
	resp, err := data.CloseWithResponse()
	if err != nil {
		return "", s.finalReplyError(err)
	}

	// The message is accepted, so a failed QUIT changes nothing.
	s.conn.setLimit(time.Now().Add(quitTimeout))
	_ = s.client.Quit()
	return queueID(resp.StatusText), nil
}

// commitError is the error of a session that stopped at the commit point,
// with the message data sent but not its end, which makes the server
// discard it.
func (s *session) commitError(err error) *SendError {
	if s.ctx.Err() != nil {
		return &SendError{Addr: s.t.addr, Command: "DATA", Err: err, Interrupted: true, temporary: true}
	}
	return &SendError{Addr: s.t.addr, Command: "DATA", Err: fmt.Errorf("failed to record the commit point before the end of the message data: %w", err), temporary: true}
}

// close ends the connection and the context watch.
func (s *session) close() {
	s.stop()
	if s.client != nil {
		s.client.Close()
		return
	}
	s.conn.Close()
}

// contextError marks err as caused by the end of the context, when it was,
// so that errors.Is(err, context.Canceled) holds. Before the commit point
// that means an interrupted send: nothing was sent, and a retry can help.
// The failure it caused, such as a closed connection, is left out of the
// text. After the commit point, err already shows whether the server may
// have accepted the message.
func (s *session) contextError(err error) error {
	ctxErr := s.ctx.Err()
	var sendErr *SendError
	if ctxErr == nil || !errors.As(err, &sendErr) || sendErr.Interrupted {
		return err
	}
	if s.committed {
		// The socket error that the cancellation caused adds nothing.
		sendErr.Err = fmt.Errorf("stopped before the server replied to the message data, so it may have accepted the message: %w", ctxErr)
		return sendErr
	}
	return &SendError{Addr: s.t.addr, Command: sendErr.Command, Err: ctxErr, Interrupted: true, temporary: true}
}

// queueReply matches the ID in "Ok <id>" (SES) and "queued as <id>"
// (Postfix, mailpit).
var queueReply = regexp.MustCompile(`(?i)^(?:ok\s+|.*\bqueued as\s+)<?([^\s<>]+)>?\s*$`)

// queueID returns the queue ID in the text of a 250 reply to DATA, or the
// whole text without its enhanced status code when it has none.
func queueID(text string) string {
	text = strings.TrimSpace(stripEnhancedCode(text))
	if m := queueReply.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return text
}

// enhancedCode matches an RFC 3463 status code at the start of a reply.
var enhancedCode = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}\s+`)

func stripEnhancedCode(text string) string {
	return enhancedCode.ReplaceAllString(text, "")
}

// checkEnvelope rejects an envelope that cannot go into MAIL FROM and RCPT
// TO: no recipients, or an address with white space, control characters or
// non-ASCII characters (SMTPUTF8 is not used). An empty From is the null
// reverse-path "<>".
func checkEnvelope(env transport.Envelope) error {
	if len(env.Recipients) == 0 {
		return errors.New("missing envelope recipients: give at least one")
	}
	if err := checkAddress(env.From); err != nil {
		return fmt.Errorf("invalid envelope sender %q: %w", env.From, err)
	}
	for _, addr := range env.Recipients {
		if addr == "" {
			return errors.New("invalid envelope recipient: empty address")
		}
		if err := checkAddress(addr); err != nil {
			return fmt.Errorf("invalid envelope recipient %q: %w", addr, err)
		}
	}
	return nil
}

func checkAddress(addr string) error {
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return errors.New("it must be a bare ASCII address without white space, control characters or angle brackets")
		}
	}
	return nil
}

// errorReader keeps the error of the reader it wraps, so that a failed read
// of the message and a failed write to the server get different errors.
type errorReader struct {
	r   io.Reader
	err error
}

func (e *errorReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// limitedConn is a connection whose deadlines never pass a limit, so that
// go-smtp, which sets its own deadline for each command, cannot wait longer
// than ConnectTimeout before the session is set up. It counts the bytes
// received, to tell a missing greeting apart from a slow reply.
type limitedConn struct {
	net.Conn
	mu       sync.Mutex
	limit    time.Time
	received atomic.Int64
}

func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.received.Add(int64(n))
	return n, err
}

// setLimit caps every later deadline at limit. The zero time removes the
// cap.
func (c *limitedConn) setLimit(limit time.Time) {
	c.mu.Lock()
	c.limit = limit
	c.mu.Unlock()
	c.Conn.SetDeadline(limit)
}

func (c *limitedConn) capped(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.limit.IsZero() && (t.IsZero() || t.After(c.limit)) {
		return c.limit
	}
	return t
}

func (c *limitedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.capped(t)) }

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.capped(t))
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.capped(t))
}
