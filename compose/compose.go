// Package compose builds the messages sealmail sends: the MIME tree of a
// text, HTML and attachments, its protection with PGP/MIME, the outer header
// and the copies the recipients get.
//
// STUB: the contract below is fixed; the implementation is being written.
package compose

import (
	"io"
	"net/mail"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/transport"
)

// Field is an extra header field a caller adds to the outer header.
type Field struct{ Name, Value string }

// Attachment is one file attached to a message. Its content is read as a
// stream each time a copy is written.
type Attachment struct {
	// Filename is the name the recipient sees; it may be any Unicode text.
	Filename string
	// ContentType is the media type; empty means derived from Filename's
	// extension, then "application/octet-stream".
	ContentType string
	// Open returns the content; it is called once per copy written.
	Open func() (io.ReadCloser, error)
}

// AttachFile returns an Attachment that reads the file at path.
func AttachFile(path string) (Attachment, error) { panic("unimplemented") }

// Message is what the user writes, before protection.
type Message struct {
	From    *mail.Address
	To      []*mail.Address
	Cc      []*mail.Address
	Bcc     []*mail.Address
	ReplyTo []*mail.Address
	Subject string
	// Date is the origination date; zero means the time of writing.
	Date time.Time
	// Header holds extra fields for the outer header. Fields sealmail sets
	// itself (From, To, Cc, Bcc, Reply-To, Subject, Date, Message-ID,
	// MIME-Version, Content-*) are rejected.
	Header []Field
	// Text is the text/plain body in UTF-8, with any line endings.
	Text []byte
	// HTML is the text/html body in UTF-8; with Text it makes a
	// multipart/alternative.
	HTML        []byte
	Attachments []Attachment
}

// Mode says which protection to apply. The zero value signs and encrypts.
type Mode int

const (
	SignAndEncrypt Mode = iota
	SignOnly
	EncryptOnly
)

// KeySource finds the certificate to encrypt to for an address.
// *keyring.Keyring implements it.
type KeySource interface {
	EncryptionKey(address string, now time.Time) (*openpgp.Entity, error)
}

// Options say how to protect a message. The zero value signs and encrypts,
// encrypts to the sender too, and fails closed.
type Options struct {
	Mode Mode
	// Signer is the sender's unlocked secret key; required to sign.
	Signer *openpgp.Entity
	// Keys resolves the recipients' certificates and, for encryption to
	// self, the sender's; required to encrypt.
	Keys KeySource
	// NoEncryptToSelf leaves the sender's key out of the recipients.
	NoEncryptToSelf bool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Copy is one raw message to send: the To/Cc copy, or a Bcc recipient's own.
type Copy struct {
	Envelope  transport.Envelope
	MessageID string // without angle brackets
	// Bcc is the Bcc recipient this copy is for; empty for the To/Cc copy.
	Bcc string
}

// RecipientError lists every recipient with no usable key.
type RecipientError struct {
	Problems []error // one per recipient, each naming the address
}

func (e *RecipientError) Error() string { panic("unimplemented") }

// Composer turns a Message into protected copies.
type Composer struct{}

// New validates m, resolves every recipient's key and plans the copies. It
// fails closed: if any recipient has no usable key, it returns a
// *RecipientError naming each, and nothing can be written.
func New(m *Message, opts Options) (*Composer, error) { panic("unimplemented") }

// Copies returns the copies to write: one for To and Cc, and, when
// encrypting, one for each Bcc recipient.
func (c *Composer) Copies() []Copy { panic("unimplemented") }

// WriteCopy writes the raw message of copy i (CRLF, no Bcc header) to w,
// streaming attachments. Each call signs and encrypts anew.
func (c *Composer) WriteCopy(w io.Writer, i int) error { panic("unimplemented") }
