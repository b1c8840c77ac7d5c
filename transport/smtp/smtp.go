// Package smtp submits raw messages over SMTP (RFC 5321) with TLS, as the
// Amazon SES SMTP interface expects, using github.com/emersion/go-smtp.
//
// The common case is:
//
//	t, err := smtp.New(smtp.Options{
//		Host:     "email-smtp.eu-central-1.amazonaws.com",
//		Username: accessKeyID,
//		Password: smtpPassword, // from SESPassword, not the secret access key
//	})
//	...
//	id, err := t.Send(ctx, transport.Envelope{From: from, Recipients: rcpts}, raw)
//
// Each Send opens its own connection and waits for the greeting. It then
// switches to TLS with STARTTLS (RFC 3207), or starts with TLS (implicit TLS,
// RFC 8314). It authenticates with AUTH PLAIN or LOGIN (RFC 4954), runs one
// MAIL FROM, RCPT TO and DATA transaction, and sends QUIT.
//
// # TLS
//
// TLS 1.2 is the minimum, the certificate is always verified against the
// host name, and TLS is never optional: a server that does not offer
// STARTTLS is an error, not a reason to send in clear text. Before TLS is up
// the client sends nothing but EHLO and STARTTLS. Without [Options.TLS] the
// port decides: 25, 587 and 2587 mean STARTTLS, 465 and 2465 mean implicit
// TLS, and any other port needs an explicit mode. Plain SMTP is used only
// with [Options.Insecure] and only to a loopback address, for emulators and
// tests.
//
// # Where it diverges
//
//   - RFC 3207 lets a client go on in clear text when STARTTLS is missing or
//     fails, but this package stops instead.
//   - RFC 8314 section 3 prefers implicit TLS for submission, but this
//     package follows the port, because SES and most providers serve both.
//   - The EHLO before STARTTLS names the client "localhost": go-smtp v0.26.0
//     gives no way to set that name before STARTTLS. [Options.HELOName] is
//     sent in the EHLO after TLS, so the real name never travels in clear
//     text.
//   - A recipient that the server refuses fails the whole message: the
//     transaction is reset and nothing is sent, so that no recipient gets a
//     copy the others did not get. The error lists every refused recipient.
//   - AUTH is sent only over TLS, and only PLAIN and LOGIN are used. When
//     credentials are given, a server that offers neither is an error,
//     although RFC 4954 would let the client go on without authenticating.
//   - Once the server accepted the message, Send waits at most a second for
//     the reply to QUIT, so that its caller can record the acceptance soon.
//     RFC 5321 section 4.1.1.10 recommends (SHOULD) that the client wait
//     for that reply.
package smtp

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sealmail/sealmail/transport/internal/spacing"
)

// TLSMode is the way a connection starts TLS.
type TLSMode string

const (
	// ModeByPort chooses STARTTLS or implicit TLS from the port.
	ModeByPort TLSMode = ""
	// StartTLS connects in clear text and upgrades with STARTTLS (RFC 3207).
	StartTLS TLSMode = "starttls"
	// ImplicitTLS starts TLS as soon as the TCP connection is up (RFC 8314).
	ImplicitTLS TLSMode = "implicit"
)

// DefaultPort is the submission port (RFC 6409), which SES serves with
// STARTTLS.
const DefaultPort = 587

// Default timeouts, used when the matching field of [Options] is zero.
const (
	// DefaultConnectTimeout bounds the TCP connection, the greeting, the
	// TLS handshake and the EHLO exchanges. It is short, so that a wrong
	// TLS mode for the port fails fast: a server that expects implicit TLS
	// sends no greeting to a client that waits for one.
	DefaultConnectTimeout = 15 * time.Second
	// DefaultCommandTimeout bounds each command and its reply.
	DefaultCommandTimeout = 2 * time.Minute
	// DefaultDataTimeout bounds the wait for the reply after the final dot
	// of DATA, as RFC 5321 section 4.5.3.2.6 recommends (10 minutes).
	DefaultDataTimeout = 10 * time.Minute
)

// Options configure a Transport. Host is required, and the zero value of
// every other field is safe: STARTTLS on port 587, verification against the
// system roots, no authentication.
type Options struct {
	// Host is the server's host name or IP address. The server's
	// certificate must be valid for it.
	Host string

	// Port is the TCP port. Zero means DefaultPort (587).
	Port int

	// TLS is the TLS mode. ModeByPort chooses STARTTLS for 25, 587 and
	// 2587, implicit TLS for 465 and 2465, and rejects any other port.
	TLS TLSMode

	// Username and Password are the SMTP credentials. For SES, they are the
	// access key ID and the password that SESPassword derives from the
	// secret access key. Both empty means no AUTH. The password never appears in an
	// error.
	Username string
	Password string

	// HELOName is the client's name in the EHLO after TLS. Empty means
	// "localhost".
	HELOName string

	// RootCAs replaces the system roots for verifying the server's
	// certificate, as for a private CA or in tests. Verification is never
	// turned off.
	RootCAs *x509.CertPool

	// Insecure allows plain SMTP without TLS, and only when Host is a
	// loopback address. It cannot be combined with a TLS mode or with
	// credentials, and is meant for emulators and tests.
	Insecure bool

	// ConnectTimeout bounds the connection, the greeting, the TLS handshake
	// and EHLO. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// CommandTimeout bounds each later command and its reply. Zero means
	// DefaultCommandTimeout.
	CommandTimeout time.Duration

	// DataTimeout bounds the wait for the reply after the message data. Zero
	// means DefaultDataTimeout.
	DataTimeout time.Duration

	// MaxSendRate paces Send, across all goroutines, to at most this many
	// recipients per second, counted as SES counts its maximum send rate.
	// Zero means no pacing. The SES SMTP interface has the same maximum
	// send rate as the account's SES API, but SMTP cannot read it, so set
	// it here.
	MaxSendRate float64
}

// Transport sends through an SMTP server. It keeps no connection between
// calls and is safe for concurrent use.
type Transport struct {
	opts Options
	addr string
	mode TLSMode
	// pacer gives each session its turn at MaxSendRate, and wire spaces
	// the final dots of the messages again (see session.submit).
	pacer spacing.Gate
	wire  spacing.Gate
}

// OptionError is an invalid value in [Options]. New returns it before any
// network call.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// New checks the options and makes a Transport. It does not connect.
func New(opts Options) (*Transport, error) {
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.HELOName == "" {
		opts.HELOName = "localhost"
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.DataTimeout == 0 {
		opts.DataTimeout = DefaultDataTimeout
	}

	mode, err := checkOptions(opts)
	if err != nil {
		return nil, &OptionError{Err: err}
	}
	t := &Transport{
		opts: opts,
		addr: net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)),
		mode: mode,
	}
	return t, nil
}

// Addr returns the server's address as host:port.
func (t *Transport) Addr() string { return t.addr }

// Mode returns the TLS mode in use, or "" for plain SMTP.
func (t *Transport) Mode() TLSMode { return t.mode }

// Insecure reports whether messages go over plain SMTP to a loopback
// address, so that callers can say so.
func (t *Transport) Insecure() bool { return t.mode == "" }

// ModeForPort returns the TLS mode that the port implies: STARTTLS for 25,
// 587 and 2587, implicit TLS for 465 and 2465. It reports false for any
// other port.
func ModeForPort(port int) (TLSMode, bool) {
	switch port {
	case 25, 587, 2587:
		return StartTLS, true
	case 465, 2465:
		return ImplicitTLS, true
	}
	return ModeByPort, false
}

// checkOptions rejects options that cannot work or would be unsafe, and
// returns the TLS mode to use ("" for plain SMTP).
func checkOptions(opts Options) (TLSMode, error) {
	if opts.Host == "" {
		return "", errors.New("missing SMTP host: give the server's host name, such as email-smtp.eu-central-1.amazonaws.com")
	}
	hasPort := strings.Contains(opts.Host, ":") && net.ParseIP(opts.Host) == nil
	if hasPort || strings.ContainsAny(opts.Host, " \t\r\n/@[]") {
		return "", fmt.Errorf("invalid SMTP host %q: give a host name or IP address without a port or scheme", opts.Host)
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return "", fmt.Errorf("invalid SMTP port %d: must be between 1 and 65535", opts.Port)
	}
	if err := checkHELOName(opts.HELOName); err != nil {
		return "", err
	}
	if opts.ConnectTimeout < 0 || opts.CommandTimeout < 0 || opts.DataTimeout < 0 {
		return "", errors.New("invalid SMTP timeout: must not be negative")
	}
	if opts.MaxSendRate < 0 || math.IsNaN(opts.MaxSendRate) || math.IsInf(opts.MaxSendRate, 0) {
		return "", fmt.Errorf("invalid SMTP send rate %v: give recipients per second, or 0 for no pacing", opts.MaxSendRate)
	}
	if err := checkCredentials(opts); err != nil {
		return "", err
	}

	if opts.Insecure {
		if opts.TLS != ModeByPort {
			return "", fmt.Errorf("invalid SMTP options: plain SMTP (insecure) cannot be combined with TLS mode %q", opts.TLS)
		}
		if !isLoopback(opts.Host) {
			return "", fmt.Errorf("invalid SMTP host %q for plain SMTP: unencrypted SMTP is allowed only to a loopback address, use TLS", opts.Host)
		}
		if opts.Username != "" {
			return "", errors.New("invalid SMTP options: credentials are sent only over TLS, so plain SMTP (insecure) takes no user name or password")
		}
		return "", nil
	}

	switch opts.TLS {
	case StartTLS, ImplicitTLS:
		return opts.TLS, nil
	case ModeByPort:
		mode, ok := ModeForPort(opts.Port)
		if !ok {
			return "", fmt.Errorf("missing TLS mode for SMTP port %d: choose starttls or implicit, since only 25, 587, 2587 (STARTTLS) and 465, 2465 (implicit TLS) imply one", opts.Port)
		}
		return mode, nil
	default:
		return "", fmt.Errorf("invalid TLS mode %q: use starttls or implicit", opts.TLS)
	}
}

// checkCredentials rejects half a pair of credentials and values that would
// break the AUTH exchange. The password is never part of the message.
func checkCredentials(opts Options) error {
	switch {
	case opts.Username == "" && opts.Password == "":
		return nil
	case opts.Username == "":
		return errors.New("missing SMTP user name: a password was given without one")
	case opts.Password == "":
		return fmt.Errorf("missing SMTP password for user %q", opts.Username)
	}
	if strings.ContainsAny(opts.Username, "\x00\r\n") {
		return fmt.Errorf("invalid SMTP user name %q: it contains NUL, CR or LF", opts.Username)
	}
	if strings.ContainsAny(opts.Password, "\x00\r\n") {
		return errors.New("invalid SMTP password: it contains NUL, CR or LF")
	}
	return nil
}

// checkHELOName accepts a domain or address literal made of printable ASCII
// without white space, as EHLO needs (RFC 5321 section 4.1.1.1).
func checkHELOName(name string) error {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("invalid HELO name %q: give a domain name or address literal in ASCII without white space", name)
		}
	}
	return nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address
// (127.0.0.0/8 or ::1). Other names are not resolved.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MaxSendRate returns the rate Send paces to, in recipients per second, or 0
// when it does not pace.
func (t *Transport) MaxSendRate() float64 { return t.opts.MaxSendRate }
