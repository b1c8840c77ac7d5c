// Package compose builds the messages sealmail sends: the MIME tree of a
// text, HTML and attachments, its protection with PGP/MIME or S/MIME, the
// outer header and the copies the recipients get.
//
// The common case is [New] with a [Message] and [Options], then
// [Composer.WriteCopy] for each of [Composer.Copies], handing each copy and its
// envelope to a transport. A complete message that a mail client wrote, as a
// sendmail command receives it, is read with [ReadMessage] and protected
// the same way.
//
// # Standards
//
// The outer header follows RFC 5322 (Internet Message Format). The MIME tree
// follows RFC 2045 and RFC 2046; display names and subjects outside ASCII are
// RFC 2047 encoded words. Attachment file names use the Content-Disposition
// field of RFC 2183, with RFC 2231 parameter value encoding (and
// continuations) for names outside ASCII or longer than a line allows. The
// protected entity is a PGP/MIME entity of RFC 3156, written by package
// crypto/pgpmime, or an S/MIME entity of RFC 8551, written by crypto/smime.
//
// Header protection follows RFC 9788 with the baseline header
// confidentiality policy (hcp_baseline): the protected entity carries the
// header fields, and an encrypted message's outer Subject is "[...]" and its
// outer header has no Keywords or Comments field. Its
// multipart also has protected-headers="v1", the earlier convention of
// draft-autocrypt-lamps-protected-headers that Thunderbird and notmuch read.
// OpenPGP messages carry the sender's key in an Autocrypt header field and
// the recipients' keys in Autocrypt-Gossip fields, as Autocrypt Level 1
// describes. An attached key is an application/pgp-keys part (RFC 3156
// section 7), and attached certificates are a certs-only
// application/pkcs7-mime part (RFC 8551 section 3.8).
//
// ReadMessage reads RFC 5322 messages with RFC 2047 encoded words, and raw
// UTF-8 (RFC 6532) in the subject and display names. A given entity
// (Message.Entity) is protected as it is, except that its parts are made to
// follow RFC 2045's 7bit rules (7-bit, lines of at most 998 octets). When it
// is signed as a MIME part, its parts also follow RFC 3156 section 3 and RFC
// 8551 section 3.1.1: no trailing white space, no line that starts with
// "From ", and no 8bit or binary leaf. Relays may re-encode such a leaf and
// break the signature.
//
// # Divergences
//
//   - Addresses are ASCII only: an internationalized domain goes out as
//     punycode (IDNA 2008 lookup profile), and a local part outside ASCII is
//     rejected, because Amazon SES does not support SMTPUTF8 (RFC 6531).
//   - A Bcc field is never written (RFC 5322 section 3.6.3 allows either
//     form). Bcc recipients are only in the envelope, and when encrypting,
//     each gets a copy of its own so that no key ID in the To/Cc copy reveals
//     them.
//   - Every part is 7-bit: text and HTML are quoted-printable, which also
//     encodes a line start of "From " and ".", and attachments are base64.
//     The text always ends with a line break.
//   - Extra header fields must be ASCII; they are written as given, because
//     RFC 2047 encoding is wrong in structured fields.
//   - A subject or display name that contains "=?" is written as encoded
//     words even when it is ASCII, because many readers decode "=?...?="
//     wherever it occurs, even inside a quoted string.
//   - A given entity is made 7-bit even when it is only encrypted, where no
//     relay would see it, because crypto/pgpmime and crypto/smime accept only
//     7-bit entities. A leaf that breaks a rule is re-encoded (text/* as
//     quoted-printable, other types as base64), and a multipart with such a
//     leaf loses its preamble and epilogue, which RFC 2046 section 5.1.1
//     requires readers to ignore. multipart/signed, multipart/encrypted and
//     message/* parts other than message/rfc822 are never re-encoded: they
//     must follow the rules as they are.
//   - A Message.MessageID is kept in every copy, so a Bcc copy has the
//     Message-ID of the To/Cc copy, as it would from any other MTA. Without
//     one, each copy gets its own.
//   - Header protection writes no Legacy Display Elements (RFC 9788), so a
//     reader without header protection shows "[...]" as the
//     subject of an encrypted message. The header fields always travel in a
//     multipart/mixed of their own, whatever the body's type. An encrypted
//     message's outer header also leaves out Thread-Topic, which Microsoft
//     Outlook fills with the subject. HP-Outer fields leave out Date and
//     Message-ID, which Amazon SES replaces, and the Autocrypt field, which
//     stays outside only.
//   - Autocrypt-Gossip fields are written only for two or more To and Cc
//     recipients, and never in a Bcc recipient's copy. The Autocrypt and
//     Autocrypt-Gossip fields carry only a user ID for their address. A key
//     without a valid one, a key that cannot encrypt, and a field that would
//     exceed 10 KiB are left out.
//   - ReadMessage skips a first line that starts with "From " (an mbox
//     separator), reads a message whose first line is no header field as a
//     body without header, as Postfix does, takes a From address without a
//     domain as no From, and rejects a second From, To, Cc, Bcc, Reply-To,
//     Subject, Date or Message-ID field.
//
// # Errors
//
// New returns an *InputError for every invalid value of the Message, such as
// an address, the subject, an extra header field, an attachment's file name
// or content type, or a body that is not UTF-8. Only a change of the value
// fixes it. New returns a *RecipientError when a key is missing or unusable.
package compose

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/crypto/smime"
	"github.com/sealmail/sealmail/transport"
)

// Field is an extra header field a caller adds to the outer header.
type Field struct{ Name, Value string }

// Message is the user's message before protection: its header fields,
// bodies and attachments.
type Message struct {
	From    *mail.Address
	To      []*mail.Address
	Cc      []*mail.Address
	Bcc     []*mail.Address
	ReplyTo []*mail.Address
	// Subject is the subject in any Unicode text without control characters
	// other than tab. A subject that is empty or only white space means no
	// Subject field. Text outside ASCII, text with "=?" and words too long
	// for a header line go out as RFC 2047 encoded words.
	Subject string
	// Date is the origination date; zero means the time of writing.
	Date time.Time
	// Header holds extra fields for the outer header. Fields sealmail sets
	// itself (From, To, Cc, Reply-To, Subject, Date, Message-ID,
	// MIME-Version, Content-*) are rejected, and so are Bcc and the trace
	// field Return-Path. So are the X-SES-* fields that Amazon SES reads as
	// request parameters, values that are not ASCII and words that do not fit
	// on a header line. Sender, In-Reply-To and References may occur once.
	Header []Field
	// Text is the text/plain body in UTF-8, with any line endings. Invalid
	// UTF-8 and NUL bytes are rejected, because the part is labelled
	// charset=utf-8; binary content belongs in an attachment.
	Text []byte
	// HTML is the text/html body, with the same rules as Text; with Text it
	// makes a multipart/alternative.
	HTML        []byte
	Attachments []Attachment

	// Entity is a complete MIME entity to protect instead of Text, HTML and
	// Attachments, which must then be empty: its Content-* header fields, an
	// empty line and its body, with LF or CRLF line endings. ReadMessage
	// fills it. The entity goes out as given, with CRLF line endings, except
	// that parts which would not survive transport or signing unchanged are
	// re-encoded (see the package doc). Without a Content-Type field it is
	// text/plain, in US-ASCII or, when its body is valid UTF-8 with 8-bit
	// bytes, in UTF-8.
	Entity []byte
	// MessageID is the Message-ID without angle brackets, such as
	// "1234@example.org". When set, every copy carries it, so that replies
	// and patch series that refer to it (In-Reply-To, References) thread.
	// Empty means that each copy gets a new one.
	MessageID string
	// Recipients are the envelope recipients as bare addresses, when they
	// differ from the header, as with sendmail without -t. When set, exactly
	// these receive the message: those in To or Cc share the To/Cc copy, and
	// each other one gets a copy of its own, as a Bcc recipient does. A To,
	// Cc or Bcc address that is not in Recipients receives nothing and needs
	// no key. Nil means To, Cc and Bcc.
	Recipients []string
}

// Mode is the protection to apply. The zero value signs and encrypts.
type Mode int

const (
	SignAndEncrypt Mode = iota
	SignOnly
	EncryptOnly
)

func (m Mode) signs() bool    { return m == SignAndEncrypt || m == SignOnly }
func (m Mode) encrypts() bool { return m == SignAndEncrypt || m == EncryptOnly }

// String returns the mode's name as the CLI spells it.
func (m Mode) String() string {
	switch m {
	case SignAndEncrypt:
		return "sign+encrypt"
	case SignOnly:
		return "sign"
	case EncryptOnly:
		return "encrypt"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// KeySource finds the certificate to encrypt to for an address, as an
// *openpgp.Entity of github.com/ProtonMail/go-crypto/openpgp/v2.
// *keyring.Keyring implements it.
type KeySource interface {
	EncryptionKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error)
}

// Scheme is the kind of protection. The zero value is OpenPGP.
type Scheme int

const (
	// PGP protects with OpenPGP as PGP/MIME (RFC 3156).
	PGP Scheme = iota
	// SMIME protects with S/MIME 4.0 (RFC 8551).
	SMIME
)

// CertificateSource finds the validated X.509 certificate to encrypt to for
// an address, for S/MIME. A keyring adapter implements it.
type CertificateSource interface {
	RecipientCertificate(ctx context.Context, address string, now time.Time) (*x509.Certificate, error)
}

// Options are the settings that protect a message. The zero value signs and encrypts,
// encrypts to the sender too, and fails closed.
type Options struct {
	Mode Mode
	// Scheme chooses OpenPGP (the zero value) or S/MIME.
	Scheme Scheme
	// Signer is the sender's unlocked secret key; required to sign with
	// OpenPGP.
	Signer *openpgp.Entity
	// Keys resolves the recipients' certificates and, for encryption to
	// self, the sender's; required to encrypt with OpenPGP.
	Keys KeySource
	// SMIMESigner is the sender's S/MIME identity with its unlocked key;
	// required to sign with S/MIME.
	SMIMESigner *smime.Signer
	// Certificates resolves the recipients' X.509 certificates and, for
	// encryption to self, the sender's; required to encrypt with S/MIME.
	Certificates CertificateSource
	// SMIME tunes S/MIME: cipher, key transport, opaque signing and the
	// legacy media types. Its zero value is the safe default.
	SMIME smime.Options
	// NoEncryptToSelf leaves the sender's key out of the recipients.
	NoEncryptToSelf bool
	// NoHeaderProtection turns off header protection (RFC 9788). By default
	// the protected entity starts with a copy of the header fields, so that
	// the signature covers them and encryption hides them, and an encrypted
	// message's outer Subject is "[...]".
	NoHeaderProtection bool
	// Autocrypt sets the Autocrypt fields of OpenPGP messages. By default
	// every OpenPGP message whose sender key is known (the signer, or the
	// key of encryption to self) carries an Autocrypt header field with the
	// sender's minimal key. An encrypted To/Cc copy for two or more
	// recipients also carries their keys in Autocrypt-Gossip fields inside.
	Autocrypt AutocryptOptions
	// AttachKey adds the sender's public key to the protected entity. With
	// OpenPGP, that is its minimal key as an application/pgp-keys part. With
	// S/MIME, it is its certificate and chain (without the root) as a
	// certs-only application/pkcs7-mime part named smime.p7c. New returns an
	// error unless there is a signer or the sender's key or certificate for
	// encryption to self.
	AttachKey bool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// signsEntity reports whether the entity is signed as a MIME part, and so
// must meet the rules of a signed part: signing alone (multipart/signed), and
// S/MIME signing before encryption. OpenPGP's combined form signs inside the
// encrypted data instead.
func (o *Options) signsEntity() bool {
	return o.Mode == SignOnly || (o.Scheme == SMIME && o.Mode == SignAndEncrypt)
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Copy is one raw message to send: the To/Cc copy, or a Bcc recipient's own.
type Copy struct {
	Envelope  transport.Envelope
	MessageID string // without angle brackets
	// Bcc is the Bcc recipient this copy is for; empty for the To/Cc copy.
	Bcc string
}

// InputError is a problem with a value of the Message given to New, or with
// an address list given to ParseAddressList: the caller supplied an invalid
// value, and the fix is to change it. A program such as the CLI can tell it
// from other failures with errors.As, for example to exit with a usage
// status. Problems with keys are a *RecipientError instead.
type InputError struct {
	// Field is the Message field that holds the value: "From", "To", "Cc",
	// "Bcc", "ReplyTo", "Subject", "Date", "Header", "Text", "HTML",
	// "Attachments", "Entity", "MessageID" or "Recipients". It is empty for
	// ParseAddressList.
	Field string
	// Err describes the problem and names the value.
	Err error
}

// Error returns the message of Err, which already names the value.
func (e *InputError) Error() string { return e.Err.Error() }

func (e *InputError) Unwrap() error { return e.Err }

// inputError wraps err, if it is not nil, in an *InputError for field.
func inputError(field string, err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Field: field, Err: err}
}

// RecipientError lists every recipient with no usable key.
type RecipientError struct {
	Problems []error // one per recipient, each naming the address
}

func (e *RecipientError) Error() string {
	reasons := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		reasons[i] = p.Error()
	}
	if len(e.Problems) == 1 {
		return "no usable encryption key for 1 recipient: " + reasons[0]
	}
	// One line per recipient, because each reason may be long and carry a
	// hint of its own.
	return fmt.Sprintf("no usable encryption key for %d recipients:\n  %s", len(e.Problems), strings.Join(reasons, "\n  "))
}

// Unwrap returns the problems, so that errors.As finds a *KeyError or the
// key source's own error type in them.
func (e *RecipientError) Unwrap() []error { return e.Problems }

// KeyError is one problem of a RecipientError: the key of Address could not
// be used.
type KeyError struct {
	Address string
	// Sender reports whether Address is the sender's, for encryption to self.
	Sender bool
	Err    error
}

func (e *KeyError) Error() string {
	reason := e.Err.Error()
	if e.Sender {
		return fmt.Sprintf("no usable key for the sender %q: %s; import or generate a key of the sender that can encrypt, or turn off encryption to self with --no-encrypt-to-self", e.Address, reason)
	}
	if !strings.Contains(reason, e.Address) {
		reason = e.Address + ": " + reason
	}
	return reason
}

func (e *KeyError) Unwrap() error { return e.Err }

// Composer turns a Message into protected copies. It is safe for concurrent
// use once New returns, and calls of New on several goroutines may share
// keys.
type Composer struct {
	msg    *Message // validated and normalized copy of the caller's message
	opts   Options
	copies []plannedCopy
	sender senderKeys
}

// Validate checks m as New does, without looking up any key, so that a
// caller can report a bad value before it unlocks a secret key. The error is
// an *InputError.
func (m *Message) Validate() error {
	_, err := normalize(m)
	return err
}

// New validates m, resolves every recipient's key and plans the copies. An
// invalid value in m is an *InputError. New fails closed: if any recipient
// has no usable key, it returns a *RecipientError naming each, and nothing
// can be written.
func New(ctx context.Context, m *Message, opts Options) (*Composer, error) {
	if m == nil {
		return nil, fmt.Errorf("failed to compose: message is nil")
	}
	msg, err := normalize(m)
	if err != nil {
		return nil, err
	}
	if msg.Entity != nil && opts.signsEntity() {
		if msg.Entity, err = prepareEntity(msg.Entity, true); err != nil {
			return nil, inputError("Entity", err)
		}
	}

	copies, self, err := plan(ctx, msg, &opts)
	if err != nil {
		return nil, err
	}
	sender, err := readKeys(msg, &opts, copies, self)
	if err != nil {
		return nil, err
	}
	return &Composer{msg: msg, opts: opts, copies: copies, sender: sender}, nil
}

// keyChecks serializes the part of New that checks key signatures. go-crypto
// records each check inside the key the first time it makes it, so two
// calls of New that share a key, such as the sender's, would otherwise write
// the same record at once.
var keyChecks sync.Mutex

// readKeys derives the Autocrypt field, the attached key and each copy's
// gossip from the keys, and has every signature check that WriteCopy needs
// recorded, so that WriteCopy only reads the keys.
func readKeys(msg *Message, opts *Options, copies []plannedCopy, self []recipientKey) (senderKeys, error) {
	keyChecks.Lock()
	defer keyChecks.Unlock()

	now := opts.now()
	sender, err := prepareSenderKeys(msg, opts, self, now)
	if err != nil {
		return senderKeys{}, err
	}
	for i := range copies {
		if copies[i].gossip, err = gossipFields(copies[i].gossipKeys, now); err != nil {
			return senderKeys{}, err
		}
	}
	checkKeysOnce(copies, opts.Signer, now)
	return sender, nil
}

// Copies returns the copies to write: one for To and Cc, and, when
// encrypting, one for each Bcc recipient.
func (c *Composer) Copies() []Copy {
	out := make([]Copy, len(c.copies))
	for i, p := range c.copies {
		out[i] = p.Copy
		out[i].Envelope.Recipients = append([]string(nil), p.Envelope.Recipients...)
	}
	return out
}
