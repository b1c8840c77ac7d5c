// Package mailkeys finds the OpenPGP keys and S/MIME certificates that a
// received email message carries: the key in its Autocrypt header, the keys
// in its application/pgp-keys parts and the certificates in its certs-only
// parts. It returns the keys as bytes with the address each one is for, and
// the certificates as bytes. Storing and checking them is the keyring's job.
//
// It follows Autocrypt Level 1 (https://autocrypt.org/level1.html) for the
// Autocrypt header field, RFC 3156 section 7 for application/pgp-keys parts,
// RFC 8551 sections 3.2 and 3.8 for certs-only parts, RFC 5322 for the
// message header and RFC 2045 and RFC 2046 for the MIME structure.
//
// An Autocrypt header field is valid when it has an addr and a keydata
// attribute, each once, and no unknown critical attribute, which is one
// whose name does not start with "_". Its addr must also equal the single
// From address, compared without regard to case. A header field longer than 10 KiB is invalid, as
// the specification advises. When more than one valid Autocrypt header field
// is present, all of them are ignored, as the specification requires.
// Autocrypt-Gossip header fields, which belong inside encrypted parts, are
// not read.
//
// An application/pgp-keys part is taken from anywhere in the MIME tree, with
// its Content-Transfer-Encoding undone, and is for the From address. So is a
// certs-only part: an application/pkcs7-mime or application/x-pkcs7-mime
// entity with smime-type=certs-only, or a part named "*.p7c". Its
// certificates name their own addresses, so it needs no From address. Parts
// inside multipart/encrypted and other application/pkcs7-mime entities are
// not read, because their content is ciphertext or inside a CMS structure,
// and Result.Unread names those entities. Nor are the parts of a
// message/rfc822 part read, because a forwarded message carries the keys of
// another sender.
//
// Divergences from Autocrypt Level 1:
//   - keydata may come before other attributes, although the specification
//     requires it last.
//   - There is no peer state: the effective date, prefer-encrypt and the
//     rules for auto-replies and multipart/report messages are left to the
//     caller. Result reports prefer-encrypt=mutual as Key.PreferEncrypt.
package mailkeys

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// MaxMessageSize is the largest message Extract reads, in bytes: 64 MiB,
// above the 40 MB that Amazon SES accepts.
const MaxMessageSize = 64 << 20

// maxDepth is the maximum nesting of multipart entities below the message.
// It bounds the work a hostile message can cause, and it is far above the
// three levels that mixed, alternative and related entities make together.
const maxDepth = 16

// Kind is the way a key travels in a message.
type Kind string

const (
	KindAutocrypt Kind = "autocrypt" // the Autocrypt header field
	KindAttached  Kind = "attached"  // an application/pgp-keys part
)

// Key is one OpenPGP key found in a message.
type Key struct {
	Kind Kind
	// Address is the address the key is for: the addr attribute of the
	// Autocrypt header field, or the From address for an attached key.
	Address string
	// Data is the key: binary for an Autocrypt key, and for an attached key
	// the decoded body of the part, armored or binary as it was sent.
	Data []byte
	// Location names where the key was found, for messages: "the Autocrypt
	// header" or "part 2.1 (application/pgp-keys, "bob.asc")".
	Location string
	// PreferEncrypt is set when the Autocrypt header field has
	// prefer-encrypt=mutual.
	PreferEncrypt bool
}

// Result is the outcome of Extract: the keys and certs-only parts of a
// message, and the reasons it may lack some.
type Result struct {
	// From is the address of the single From mailbox, or "" when the From
	// header field is missing, invalid or has several mailboxes.
	From string
	// Keys are the keys found: the Autocrypt key first, then the attached
	// keys in the order of their parts.
	Keys []Key
	// CertsOnly are the certs-only parts, in the order of the parts.
	CertsOnly []CertsOnly
	// Ignored gives the reason for each Autocrypt header field that was
	// ignored, so that a caller can say why a message yielded no key.
	Ignored []string
	// Unread names the multipart/encrypted and application/pkcs7-mime
	// entities whose parts were not read, such as
	// "the message body (multipart/encrypted)".
	Unread []string
}

// ErrTooLarge is wrapped by the error of Extract when the message is larger
// than MaxMessageSize.
var ErrTooLarge = fmt.Errorf("the message is larger than %d MiB", MaxMessageSize>>20)

// Extract returns the keys and certs-only parts in the RFC 5322 message
// data. A message without any returns a Result without keys or certs-only
// parts, and no error. An error means that the message could not be read,
// that an application/pgp-keys part does not contain an OpenPGP key, or
// that a certs-only part is neither DER nor PEM. The error message names the
// part.
func Extract(data []byte) (*Result, error) {
	if len(data) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	data = skipMboxLine(data)

	message, err := rawmime.ParseEntity(data)
	if err != nil {
		return nil, fmt.Errorf("failed to read the message header: %w", err)
	}
	result := &Result{}
	from, fromProblem := singleFrom(message)
	result.From = from

	key, ignored := autocryptKey(message, from, fromProblem)
	result.Ignored = ignored
	if key != nil {
		result.Keys = append(result.Keys, *key)
	}

	parts, err := walkParts(message)
	if err != nil {
		return nil, err
	}
	result.CertsOnly = parts.certsOnly
	result.Unread = parts.unread
	for _, part := range parts.keys {
		if from == "" {
			return nil, fmt.Errorf("failed to take the key in %s: %s, so the key cannot be bound to an address", part.Location, fromProblem)
		}
		part.Address = from
		result.Keys = append(result.Keys, part)
	}
	return result, nil
}

// skipMboxLine drops the "From " line that starts a message saved from an
// mbox file, which is not a header field.
func skipMboxLine(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte("From ")) {
		return data
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[i+1:]
	}
	return nil
}

// singleFrom returns the address of the only mailbox in the From header
// field, or "" and the reason there is none.
func singleFrom(message *rawmime.Entity) (string, string) {
	values := message.Header.Values("From")
	switch len(values) {
	case 0:
		return "", "the message has no From header field"
	case 1:
	default:
		return "", fmt.Sprintf("the message has %d From header fields", len(values))
	}

	parser := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: passCharset}}
	list, err := parser.ParseList(values[0])
	if err != nil {
		return "", fmt.Sprintf("the From header field %q is invalid (%v)", values[0], err)
	}
	if len(list) != 1 {
		return "", fmt.Sprintf("the From header field has %d addresses", len(list))
	}
	return list[0].Address, ""
}

// passCharset returns the bytes of an encoded word in a charset that
// mime.WordDecoder does not know as they are. Only the addresses matter
// here, and net/mail rejects the whole list over such a display name.
func passCharset(_ string, input io.Reader) (io.Reader, error) {
	return input, nil
}
