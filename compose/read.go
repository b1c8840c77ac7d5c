package compose

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// ReadMessage parses a complete RFC 5322 message, as a mail client, git
// send-email or cron hands it to sendmail, with LF or CRLF line endings.
//
// From, To, Cc, Bcc, Reply-To, Subject, Date and Message-ID go to the
// Message fields of the same name. Encoded words (RFC 2047) in the subject
// and in display names are decoded, and raw UTF-8 there (RFC 6532) is
// accepted. The Content-* fields and the body become Entity. MIME-Version
// and Return-Path are dropped, and so are Autocrypt, Autocrypt-Gossip and
// HP-Outer, because New writes those for the protection it applies. Every
// other field goes to Header in its
// order, unfolded. A value outside ASCII is encoded as RFC 2047 encoded
// words in an X- field or Comments, whose text is unstructured, and is an
// error in any other field. New and Message.Validate check the rest, such as
// the X-SES-* fields that Amazon SES would read as parameters.
//
// Two inputs get special handling. A first line that starts with "From "
// (the separator of an mbox file, as git format-patch writes it) is
// skipped. A From field whose address has no domain, as cron writes
// "root (Cron Daemon)", leaves From nil, because nobody can sign for such an
// address, so the caller sets the sender.
//
// Every problem with the input is an *InputError whose Field names the
// Message field and whose message names the header field and its line.
// ReadMessage sets no Recipients; a sendmail caller sets them from its
// arguments.
func ReadMessage(r io.Reader) (*Message, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to read the message: %w", err)
	}
	firstLine := 1
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data, firstLine = data[i+1:], 2
		} else {
			data = nil
		}
	}
	fields, body, err := splitHeader(data, firstLine)
	if err != nil {
		return nil, inputError("Header", fmt.Errorf("invalid message header: %w", err))
	}

	m := &Message{}
	var entity bytes.Buffer
	seen := map[string]int{}
	for _, f := range fields {
		name := strings.ToLower(f.name)
		if line, ok := seen[name]; ok && messageSingletons[name] {
			return nil, inputError(messageFieldOf(name), fmt.Errorf("invalid message header: the %s field occurs twice (lines %d and %d), but RFC 5322 allows it once", f.name, line, f.line))
		}
		seen[name] = f.line

		switch {
		case strings.HasPrefix(name, "content-"):
			// The entity keeps these fields as they were written, folds
			// included; prepareEntity checks them.
			for _, line := range f.lines {
				entity.Write(line)
				entity.WriteString("\r\n")
			}
		case name == "mime-version", name == "return-path":
			// MIME-Version is written by compose; Return-Path is added by
			// the delivering server (RFC 5321 section 4.4).
		case name == "autocrypt", name == "autocrypt-gossip", name == "hp-outer":
			// A mail client's Autocrypt field carries the key the client
			// would sign with, not the one sealmail signs with.
		default:
			if err := m.readField(name, f); err != nil {
				return nil, err
			}
		}
	}
	entity.WriteString("\r\n")
	entity.Write(body)
	m.Entity = entity.Bytes()
	return m, nil
}

// messageSingletons are the fields that RFC 5322 section 3.6 allows at
// most once and that ReadMessage reads into Message fields. ReadMessage
// rejects a second occurrence of any of them.
var messageSingletons = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true,
	"subject": true, "date": true, "message-id": true,
}

// messageFieldOf returns the Message field that a header field goes to, as
// InputError.Field names it.
func messageFieldOf(name string) string {
	switch name {
	case "from":
		return "From"
	case "to":
		return "To"
	case "cc":
		return "Cc"
	case "bcc":
		return "Bcc"
	case "reply-to":
		return "ReplyTo"
	case "subject":
		return "Subject"
	case "date":
		return "Date"
	case "message-id":
		return "MessageID"
	}
	return "Header"
}

// wordDecoder decodes RFC 2047 encoded words in any charset that
// go-message's charset package supports, not only the UTF-8, ISO-8859-1 and
// US-ASCII of mime.WordDecoder.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// readField stores the header field f, named name in lowercase, in m.
func (m *Message) readField(name string, f rawField) error {
	field := messageFieldOf(name)
	invalid := func(err error) error {
		return inputError(field, fmt.Errorf("invalid %s field (line %d): %w", f.name, f.line, err))
	}
	if !utf8.ValidString(f.value) {
		return invalid(fmt.Errorf("it has 8-bit bytes that are not UTF-8; write it as RFC 2047 encoded words"))
	}

	var err error
	switch name {
	case "from":
		m.From, err = readFrom(f.value)
	case "to":
		m.To, err = readAddressList(f.value)
	case "cc":
		m.Cc, err = readAddressList(f.value)
	case "bcc":
		m.Bcc, err = readAddressList(f.value)
	case "reply-to":
		m.ReplyTo, err = readAddressList(f.value)
	case "subject":
		m.Subject, err = wordDecoder.DecodeHeader(f.value)
	case "date":
		m.Date, err = mail.ParseDate(f.value)
	case "message-id":
		m.MessageID, err = readMessageID(f.value)
	default:
		var value string
		if value, err = readExtraValue(name, f.value); err == nil {
			m.Header = append(m.Header, Field{Name: f.name, Value: value})
		}
	}
	if err != nil {
		return invalid(err)
	}
	return nil
}

// readFrom parses the From field. An address without a domain, as cron
// writes "root (Cron Daemon)", gives no sender, so that the caller supplies
// one.
func readFrom(value string) (*mail.Address, error) {
	if !strings.Contains(value, "@") {
		return nil, nil
	}
	list, err := readAddressList(value)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("it has %d addresses, but sealmail signs for exactly one sender", len(list))
	}
	return list[0], nil
}

// readAddressList parses an address list, with groups such as
// "undisclosed-recipients:;" read as their members. An empty value is an
// empty list.
func readAddressList(value string) ([]*mail.Address, error) {
	if value == "" {
		return nil, nil
	}
	parser := mail.AddressParser{WordDecoder: wordDecoder}
	list, err := parser.ParseList(value)
	if err != nil {
		return nil, err
	}
	return list, nil
}

// readMessageID returns the msg-id of a Message-ID field without its angle
// brackets.
func readMessageID(value string) (string, error) {
	id, ok := strings.CutPrefix(value, "<")
	if ok {
		id, ok = strings.CutSuffix(id, ">")
	}
	if !ok {
		return "", fmt.Errorf("%q is not a message ID in angle brackets, such as <1234@example.org>", value)
	}
	if err := checkMessageID(id); err != nil {
		return "", err
	}
	return id, nil
}

// readExtraValue returns the value of a field that goes to Message.Header.
// Text outside ASCII is encoded as RFC 2047 words in the fields whose text is
// unstructured: X- fields by convention, and Comments (RFC 5322 section
// 3.6.5). Encoded words in a structured field would be wrong, so there it is
// an error.
func readExtraValue(name, value string) (string, error) {
	if isASCII(value) {
		return value, nil
	}
	if strings.HasPrefix(name, "x-") || name == "comments" {
		return encodeWords(value), nil
	}
	return "", fmt.Errorf("it is not ASCII, and the field is structured, so its text cannot be encoded as RFC 2047 encoded words; write it in ASCII")
}
