// Package maildir delivers messages into a Maildir, the format of
// https://cr.yp.to/proto/maildir.html that notmuch, mutt and Dovecot read.
// sealmail uses it for the outbox and for the sent copies.
//
// STUB: the contract below is fixed; the implementation is being written.
package maildir

import (
	"context"
	"io"

	"github.com/sealmail/sealmail/transport"
)

// Maildir is one Maildir folder with its cur, new and tmp folders.
type Maildir struct {
	dir string
}

// Open opens the Maildir at dir, creating it with mode 0700 if needed.
func Open(dir string) (*Maildir, error) { panic("unimplemented") }

// Dir returns the folder of the Maildir.
func (m *Maildir) Dir() string { return m.dir }

// Record is what is kept beside each message, never in its header.
type Record struct {
	Envelope transport.Envelope `json:"envelope"`
	// Via names the transport that accepted the copy ("ses", "outbox").
	Via string `json:"via,omitempty"`
	// MessageID is the identifier the transport assigned, such as the SES
	// message ID.
	MessageID string `json:"message_id,omitempty"`
}

// Deliver writes raw into new/ atomically (tmp/, fsync, rename) and its
// Record beside it. It returns the path of the message file.
func (m *Maildir) Deliver(raw io.Reader, rec Record) (path string, err error) {
	panic("unimplemented")
}

// ReadRecord returns the Record kept for the message file at path.
func (m *Maildir) ReadRecord(path string) (Record, error) { panic("unimplemented") }

// Outbox is a transport that delivers into a Maildir.
type Outbox struct{ Maildir *Maildir }

// Send implements transport.Transport; the id is the message file's path.
func (o Outbox) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	return o.Maildir.Deliver(raw, Record{Envelope: env, Via: "outbox"})
}
