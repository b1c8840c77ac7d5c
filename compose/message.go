package compose

import (
	"bytes"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// fieldsSetByCompose are the header fields sealmail writes itself, in
// lowercase; Content-* fields are matched by prefix.
var fieldsSetByCompose = map[string]bool{
	"from": true, "to": true, "cc": true, "reply-to": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
}

// fieldsRejected are header fields a caller may not add although sealmail
// does not write them, in lowercase, each with what to do instead.
var fieldsRejected = map[string]string{
	"bcc": "use --bcc (Message.Bcc) to add Bcc recipients, because sealmail never writes a Bcc field",
	// Resent-Bcc (RFC 5322 section 3.6.6) would show hidden recipients to
	// everyone, and SES rejects a raw message that has it.
	"resent-bcc": "add Bcc recipients with --bcc, a Bcc field or Message.Bcc instead, because sealmail never writes a Bcc field",
	// RFC 5321 section 4.4: the delivering server adds Return-Path from
	// the envelope sender.
	"return-path": "the receiving server adds it from the envelope sender, which is the From address",
	// New writes these from the sender's key and the protection it applies.
	"autocrypt":        "sealmail writes it from the sender's OpenPGP key, unless Autocrypt is turned off; leave it out",
	"autocrypt-gossip": "sealmail writes it inside the encrypted part; leave it out",
	"hp-outer":         "sealmail writes it inside the encrypted part; leave it out",
	// Amazon SES reads these fields of a raw message as parameters of the
	// request, so they must come from the transport's options.
	"x-ses-configuration-set": "Amazon SES reads it as the configuration set; use --configuration-set (ses.Options.ConfigurationSet) instead",
	"x-ses-message-tags":      "Amazon SES reads it as message tags; use --tag (ses.Options.Tags) instead",
	"x-ses-source-arn":        "Amazon SES reads it for sending authorization, which sealmail does not support; send from an identity of the account you send with",
	"x-ses-from-arn":          "Amazon SES reads it for sending authorization, which sealmail does not support; send from an identity of the account you send with",
	"x-ses-return-path-arn":   "Amazon SES reads it for sending authorization, which sealmail does not support; send from an identity of the account you send with",
}

// singletonFields are the fields that RFC 5322 section 3.6 allows at most
// once and a caller may add; checkFields rejects a second one.
var singletonFields = map[string]bool{
	"sender": true, "in-reply-to": true, "references": true,
}

// normalize validates m and returns a copy in which every address has an
// ASCII domain, duplicate recipients are folded into one and a blank subject
// is empty. The copy shares the Text, HTML and attachment values with m,
// which New does not change. Every problem with a value of m is an
// *InputError.
func normalize(m *Message) (*Message, error) {
	out := &Message{
		Subject:     m.Subject,
		Date:        m.Date,
		Text:        m.Text,
		HTML:        m.HTML,
		Attachments: append([]Attachment(nil), m.Attachments...),
		Header:      append([]Field(nil), m.Header...),
		MessageID:   m.MessageID,
	}

	if m.From == nil {
		return nil, inputError("From", fmt.Errorf("invalid message: missing From address"))
	}
	var err error
	if out.From, err = normalizeAddress("From", m.From); err != nil {
		return nil, inputError("From", err)
	}
	if out.ReplyTo, err = normalizeAddresses("Reply-To", m.ReplyTo); err != nil {
		return nil, inputError("ReplyTo", err)
	}
	if err := normalizeRecipients(out, m); err != nil {
		return nil, err
	}

	if err := checkLine("subject", m.Subject); err != nil {
		return nil, inputError("Subject", err)
	}
	// White space at the end of a field means nothing (RFC 5322 section
	// 3.2.2 lets it fold away), and header protection copies the fields into
	// the signed part, where a line must not end in white space.
	out.Subject = strings.TrimRight(out.Subject, " \t")
	if strings.TrimSpace(out.Subject) == "" {
		out.Subject = ""
	}
	if err := checkFields(out.Header); err != nil {
		return nil, inputError("Header", err)
	}
	for i := range out.Header {
		out.Header[i].Value = strings.TrimRight(out.Header[i].Value, " \t")
	}
	if err := checkTextBody("text body", m.Text); err != nil {
		return nil, inputError("Text", err)
	}
	if err := checkTextBody("HTML body", m.HTML); err != nil {
		return nil, inputError("HTML", err)
	}
	for i := range out.Attachments {
		if err := checkAttachment(&out.Attachments[i]); err != nil {
			return nil, err
		}
	}
	if m.Entity != nil {
		if len(m.Text) > 0 || len(m.HTML) > 0 || len(m.Attachments) > 0 {
			return nil, inputError("Entity", fmt.Errorf("invalid message: both Entity and Text, HTML or Attachments are set; give the body either as one MIME entity or as parts"))
		}
		// The entity is prepared for encryption here, and again for a
		// signature by New when the mode needs one.
		if out.Entity, err = prepareEntity(m.Entity, false); err != nil {
			return nil, inputError("Entity", err)
		}
	}
	if m.MessageID != "" {
		if err := checkMessageID(m.MessageID); err != nil {
			return nil, inputError("MessageID", err)
		}
	}
	return out, nil
}

// checkMessageID rejects a Message-ID that is not of the form
// id-left "@" id-right of RFC 5322 section 3.6.4 in printable ASCII, or is
// given in angle brackets, which sealmail adds itself.
func checkMessageID(id string) error {
	if strings.HasPrefix(id, "<") || strings.HasSuffix(id, ">") {
		return fmt.Errorf("invalid Message-ID %q: give it without the angle brackets", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '<' || c == '>' {
			return fmt.Errorf("invalid Message-ID %q: only printable ASCII without white space and angle brackets is allowed", id)
		}
	}
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return fmt.Errorf("invalid Message-ID %q: it needs a left part, an @ and a right part, such as 1234@example.org", id)
	}
	if len(id) > maxLine-len("Message-ID: <>") {
		return fmt.Errorf("invalid Message-ID: it has %d characters, but a header line is limited to %d", len(id), maxLine)
	}
	return nil
}

// checkTextBody rejects a body that is not valid UTF-8 or contains a NUL
// byte. The part is labelled charset=utf-8, so other bytes would reach the
// reader garbled, and RFC 2045 section 2.7 allows no NUL in text.
func checkTextBody(what string, body []byte) error {
	if !utf8.Valid(body) {
		i := invalidUTF8(body)
		return fmt.Errorf("invalid %s: it is not valid UTF-8 (the byte at offset %d is 0x%02X); convert it to UTF-8, for example with iconv, or attach the file instead", what, i, body[i])
	}
	if i := bytes.IndexByte(body, 0); i >= 0 {
		return fmt.Errorf("invalid %s: it contains a NUL byte at offset %d, so it is not text; attach the file instead", what, i)
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte of b that does not start
// a valid UTF-8 sequence, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
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
			return inputError(role.field, err)
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

	if m.Recipients != nil {
		return normalizeEnvelopeRecipients(out, m.Recipients)
	}
	if len(seen) == 0 {
		return inputError("To", fmt.Errorf("invalid message: no recipients in To, Cc or Bcc"))
	}
	return nil
}

// normalizeEnvelopeRecipients fills out.Recipients from list, each address
// checked as a header address is and listed once, compared without regard
// to case.
func normalizeEnvelopeRecipients(out *Message, list []string) error {
	if len(list) == 0 {
		return inputError("Recipients", fmt.Errorf("invalid message: Recipients is set but empty; leave it nil to send to the To, Cc and Bcc addresses"))
	}
	seen := map[string]bool{}
	out.Recipients = []string{}
	for _, r := range list {
		a, err := normalizeAddress("envelope recipient", &mail.Address{Address: r})
		if err != nil {
			return inputError("Recipients", err)
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			continue
		}
		seen[key] = true
		out.Recipients = append(out.Recipients, a.Address)
	}
	return nil
}

// checkFields rejects extra header fields that would break the header,
// duplicate a field sealmail writes, instruct Amazon SES, repeat a singleton
// field or not fit on header lines.
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
		if hint, ok := fieldsRejected[name]; ok {
			return fmt.Errorf("invalid header field %q: %s", f.Name, hint)
		}
		if singletonFields[name] && seen[name] {
			return fmt.Errorf("invalid header field %q: it may occur only once", f.Name)
		}
		seen[name] = true

		if err := checkFieldValue(f); err != nil {
			return err
		}
	}
	return nil
}

// checkFieldValue rejects a value that is not one line of ASCII, is empty
// or holds a word too long to fold within a header line.
func checkFieldValue(f Field) error {
	field := fmt.Sprintf("header field %q", f.Name)
	if err := checkLine(field, f.Value); err != nil {
		return err
	}
	if strings.TrimSpace(f.Value) == "" {
		return fmt.Errorf("invalid header field %q: the value is empty", f.Name)
	}
	if !isASCII(f.Value) {
		return fmt.Errorf("invalid header field %q: the value is not ASCII; encode it as RFC 2047 encoded words first", f.Name)
	}
	if _, err := foldField(f.Name, f.Value); err != nil {
		return err // it names the field
	}
	return nil
}

// checkAttachment validates a and sets its ContentType when empty. A nil
// Open is a programming error, so only the other problems are *InputError.
func checkAttachment(a *Attachment) error {
	if a.Filename == "" {
		return inputError("Attachments", fmt.Errorf("invalid attachment: the file name is empty"))
	}
	if err := checkLine("attachment file name", a.Filename); err != nil {
		return inputError("Attachments", err)
	}
	if a.Open == nil {
		return fmt.Errorf("invalid attachment %q: Open is nil", a.Filename)
	}

	if a.ContentType == "" {
		a.ContentType = typeByFilename(a.Filename)
		return nil
	}
	contentType, err := formatContentType(a.Filename, a.ContentType)
	if err != nil {
		return inputError("Attachments", err)
	}
	a.ContentType = contentType
	return nil
}

// formatContentType checks the content type of the attachment named
// filename and returns it as it goes in the Content-Type field.
func formatContentType(filename, contentType string) (string, error) {
	field := fmt.Sprintf("content type of attachment %q", filename)
	if err := checkLine(field, contentType); err != nil {
		return "", err
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("invalid %s: %q: %w", field, contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") || strings.HasPrefix(mediaType, "message/") {
		return "", fmt.Errorf("invalid %s: %q is a composite type, which cannot be attached with base64 encoding; use application/octet-stream", field, contentType)
	}
	// Written back by FormatMediaType, so that parameters are quoted
	// correctly whatever the caller wrote.
	delete(params, "name")
	formatted := mime.FormatMediaType(mediaType, params)
	if formatted == "" {
		return "", fmt.Errorf("invalid %s: the parameters of %q cannot be written back; remove them", field, contentType)
	}
	return formatted, nil
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
