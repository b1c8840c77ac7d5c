package compose

import (
	"fmt"
	"mime"
	"net/mail"
	"strings"
)

// fieldsSetByCompose are the header fields sealmail writes itself, in
// lowercase; Content-* fields are matched by prefix. Return-Path is added by
// the delivering MTA and must not come from the sender (RFC 5321 section
// 4.4).
var fieldsSetByCompose = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
	"return-path": true,
}

// singletonFields are the fields that RFC 5322 section 3.6 allows at most
// once and a caller may add; checkFields rejects a second one.
var singletonFields = map[string]bool{
	"sender": true, "in-reply-to": true, "references": true,
}

// normalize validates m and returns a copy in which every address has an
// ASCII domain and duplicate recipients are folded into one. The copy shares
// the Text, HTML and attachment values with m, which New does not change.
func normalize(m *Message) (*Message, error) {
	out := &Message{
		Subject:     m.Subject,
		Date:        m.Date,
		Text:        m.Text,
		HTML:        m.HTML,
		Attachments: append([]Attachment(nil), m.Attachments...),
		Header:      append([]Field(nil), m.Header...),
	}

	if m.From == nil {
		return nil, fmt.Errorf("invalid message: missing From address")
	}
	var err error
	if out.From, err = normalizeAddress("From", m.From); err != nil {
		return nil, err
	}
	if out.ReplyTo, err = normalizeAddresses("Reply-To", m.ReplyTo); err != nil {
		return nil, err
	}
	if err := normalizeRecipients(out, m); err != nil {
		return nil, err
	}

	if err := checkLine("subject", m.Subject); err != nil {
		return nil, err
	}
	if err := checkFields(out.Header); err != nil {
		return nil, err
	}
	for i := range out.Attachments {
		if err := checkAttachment(&out.Attachments[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func normalizeAddresses(field string, list []*mail.Address) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, a := range list {
		n, err := normalizeAddress(field, a)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// normalizeRecipients fills the To, Cc and Bcc of out from m. An address
// that occurs twice, compared without regard to case, is kept in the first of
// To, Cc and Bcc it appears in. So an address in To and Bcc is sent as To.
func normalizeRecipients(out, m *Message) error {
	seen := map[string]bool{}
	roles := []struct {
		field string
		in    []*mail.Address
		out   *[]*mail.Address
	}{
		{"To", m.To, &out.To},
		{"Cc", m.Cc, &out.Cc},
		{"Bcc", m.Bcc, &out.Bcc},
	}
	for _, role := range roles {
		list, err := normalizeAddresses(role.field, role.in)
		if err != nil {
			return err
		}
		for _, a := range list {
			key := strings.ToLower(a.Address)
			if seen[key] {
				continue
			}
			seen[key] = true
			*role.out = append(*role.out, a)
		}
	}

	if len(seen) == 0 {
		return fmt.Errorf("invalid message: no recipients in To, Cc or Bcc")
	}
	return nil
}

// checkFields rejects extra header fields that would break the header,
// duplicate a field sealmail writes, or repeat a singleton field.
func checkFields(fields []Field) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if f.Name == "" {
			return fmt.Errorf("invalid header field name: it is empty")
		}
		for i := 0; i < len(f.Name); i++ {
			// RFC 5322 section 2.2: printable US-ASCII except colon.
			if c := f.Name[i]; c < '!' || c > '~' || c == ':' {
				return fmt.Errorf("invalid header field name %q: only printable ASCII without colon is allowed", f.Name)
			}
		}

		name := strings.ToLower(f.Name)
		if fieldsSetByCompose[name] || strings.HasPrefix(name, "content-") {
			return fmt.Errorf("invalid header field %q: sealmail sets this field itself", f.Name)
		}
		if singletonFields[name] && seen[name] {
			return fmt.Errorf("invalid header field %q: it may occur only once", f.Name)
		}
		seen[name] = true

		field := fmt.Sprintf("value of header field %q", f.Name)
		if err := checkLine(field, f.Value); err != nil {
			return err
		}
		if strings.TrimSpace(f.Value) == "" {
			return fmt.Errorf("invalid header field %q: the value is empty", f.Name)
		}
		if !isASCII(f.Value) {
			return fmt.Errorf("invalid header field %q: the value is not ASCII; encode it as RFC 2047 encoded words first", f.Name)
		}
	}
	return nil
}

// checkAttachment validates a and sets its ContentType when empty.
func checkAttachment(a *Attachment) error {
	if a.Filename == "" {
		return fmt.Errorf("invalid attachment: the file name is empty")
	}
	if err := checkLine("attachment file name", a.Filename); err != nil {
		return err
	}
	if a.Open == nil {
		return fmt.Errorf("invalid attachment %q: Open is nil", a.Filename)
	}

	if a.ContentType == "" {
		a.ContentType = typeByFilename(a.Filename)
		return nil
	}
	field := fmt.Sprintf("content type of attachment %q", a.Filename)
	if err := checkLine(field, a.ContentType); err != nil {
		return err
	}
	mediaType, params, err := mime.ParseMediaType(a.ContentType)
	if err != nil {
		return fmt.Errorf("invalid %s %q: %w", field, a.ContentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") || strings.HasPrefix(mediaType, "message/") {
		return fmt.Errorf("invalid %s %q: composite types cannot be attached with base64 encoding", field, a.ContentType)
	}
	// Written back by FormatMediaType, so that parameters are quoted
	// correctly whatever the caller wrote.
	delete(params, "name")
	formatted := mime.FormatMediaType(mediaType, params)
	if formatted == "" {
		return fmt.Errorf("invalid %s %q: its parameters cannot be written back", field, a.ContentType)
	}
	a.ContentType = formatted
	return nil
}

// typeByFilename returns the media type for the file name's extension
// without parameters, or application/octet-stream. NOTE: mime.TypeByExtension
// also reads the system's mime.types files, so the result may differ between
// machines for extensions outside Go's built-in table.
func typeByFilename(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "application/octet-stream"
	}
	t, _, err := mime.ParseMediaType(mime.TypeByExtension(name[i:]))
	if err != nil || t == "" {
		return "application/octet-stream"
	}
	return t
}
