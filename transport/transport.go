// Package transport defines what every way out of sealmail shares: the
// envelope of one copy and the interface a transport implements.
//
// The envelope is the SMTP envelope of RFC 5321 (MAIL FROM and RCPT TO). It is
// never written into the message header: Bcc recipients appear only here.
package transport

import (
	"context"
	"io"
)

// Envelope is the SMTP envelope of one copy of a message.
type Envelope struct {
	// From is the bare address of the sender (the return path).
	From string
	// Recipients are the bare addresses the copy is delivered to, Bcc
	// recipients included.
	Recipients []string
}

// Transport hands one raw message to a way out.
type Transport interface {
	// Send delivers raw, a complete RFC 5322 message with CRLF line endings,
	// to the recipients of env. It returns the identifier the transport
	// assigned to the message (the SES message ID, or a file name for a
	// Maildir), which callers record beside the sent copy.
	Send(ctx context.Context, env Envelope, raw io.Reader) (id string, err error)
}
