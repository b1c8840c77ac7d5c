package compose

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sealmail/sealmail/crypto/pgpmime"
	"github.com/sealmail/sealmail/crypto/smime"
)

// WriteCopy writes the raw message of copy i (CRLF, no Bcc header) to w,
// streaming attachments. Each call signs and encrypts anew, so a caller that
// must send and keep the same bytes writes a copy once, to a file. ctx stops
// the reading of attachments.
func (c *Composer) WriteCopy(ctx context.Context, w io.Writer, i int) error {
	if i < 0 || i >= len(c.copies) {
		return fmt.Errorf("failed to write a copy: index %d is out of range, because there are %d copies", i, len(c.copies))
	}
	cp := &c.copies[i]
	name := c.copyName(cp)

	bw := bufio.NewWriterSize(w, 32*1024)
	fields := c.headerFields(cp)
	outer := c.outerFields(fields)
	if err := c.writeHeader(bw, outer); err != nil {
		return fmt.Errorf("failed to write the header of %s: %w", name, err)
	}

	content := func(w io.Writer) error {
		if c.msg.Entity != nil {
			_, err := w.Write(c.msg.Entity) // prepared by New
			return err
		}
		return writeBody(ctx, w, c.msg)
	}
	body := func(w io.Writer) error {
		return c.writePayload(w, cp, fields, outer, content)
	}
	var err error
	if c.opts.Scheme == SMIME {
		err = c.protectSMIME(bw, cp, body)
	} else {
		err = c.protectPGP(bw, cp, body)
	}
	if err != nil {
		return fmt.Errorf("failed to protect %s: %w", name, err)
	}

	if err := bw.Flush(); err != nil {
		return fmt.Errorf("failed to write %s: %w", name, err)
	}
	return nil
}

// protectPGP writes the PGP/MIME entity of a copy.
func (c *Composer) protectPGP(w io.Writer, cp *plannedCopy, body pgpmime.BodyFunc) error {
	opts := &pgpmime.Options{Now: c.opts.Now}
	switch c.opts.Mode {
	case SignOnly:
		return pgpmime.Sign(w, c.opts.Signer, body, opts)
	case EncryptOnly:
		return pgpmime.Encrypt(w, cp.keys, nil, body, opts)
	default:
		return pgpmime.Encrypt(w, cp.keys, c.opts.Signer, body, opts)
	}
}

// protectSMIME writes the S/MIME entity of a copy: signed, encrypted, or
// signed and then encrypted.
func (c *Composer) protectSMIME(w io.Writer, cp *plannedCopy, body smime.BodyFunc) error {
	opts := c.opts.SMIME
	if opts.Now == nil {
		opts.Now = c.opts.Now
	}
	switch c.opts.Mode {
	case SignOnly:
		return smime.Sign(w, c.opts.SMIMESigner, body, &opts)
	case EncryptOnly:
		return smime.Encrypt(w, cp.certs, nil, body, &opts)
	default:
		return smime.Encrypt(w, cp.certs, c.opts.SMIMESigner, body, &opts)
	}
}

// copyName returns how errors name cp: "the message" when it is the only
// copy, else "the To/Cc copy" or "the Bcc copy for" its recipient.
func (c *Composer) copyName(cp *plannedCopy) string {
	switch {
	case cp.Bcc != "":
		return fmt.Sprintf("the Bcc copy for %q", cp.Bcc)
	case len(c.copies) == 1:
		return "the message"
	}
	return "the To/Cc copy"
}

// headerFields returns the header fields of a copy that are the message's
// own, with the real Subject: those that the outer header carries, and that
// header protection copies inside. Bcc is never among them: Bcc recipients
// are only in the envelope.
func (c *Composer) headerFields(cp *plannedCopy) []Field {
	m := c.msg
	date := m.Date
	if date.IsZero() {
		date = c.opts.now()
	}

	fields := []Field{{"From", formatAddress(m.From)}}
	if len(m.To) > 0 {
		fields = append(fields, Field{"To", formatAddressList(m.To)})
	}
	if len(m.Cc) > 0 {
		fields = append(fields, Field{"Cc", formatAddressList(m.Cc)})
	}
	if len(m.ReplyTo) > 0 {
		fields = append(fields, Field{"Reply-To", formatAddressList(m.ReplyTo)})
	}
	if m.Subject != "" { // normalize made a blank subject empty
		fields = append(fields, Field{"Subject", encodeSubject(m.Subject)})
	}
	fields = append(fields,
		Field{"Date", date.Format(time.RFC1123Z)},
		Field{"Message-ID", "<" + cp.MessageID + ">"},
	)
	return append(fields, m.Header...)
}

// outerFields returns fields as the outer header carries them. With header
// protection of an encrypted message, the hcp_baseline policy of RFC 9788
// makes the Subject "[...]" and removes Keywords and Comments, and sealmail
// also removes Thread-Topic, which Microsoft Outlook fills with the subject.
// All of them stay in the copy inside.
func (c *Composer) outerFields(fields []Field) []Field {
	if !c.obscures() {
		return fields
	}
	var outer []Field
	for _, f := range fields {
		switch strings.ToLower(f.Name) {
		case "subject":
			f.Value = obscuredSubject
		case "keywords", "comments", "thread-topic":
			continue
		}
		outer = append(outer, f)
	}
	return outer
}

// writeHeader writes the outer header of a copy, up to the Content-Type
// field that pgpmime or smime writes: the message's fields as outerFields
// gives them, MIME-Version and the Autocrypt field.
func (c *Composer) writeHeader(w io.Writer, outer []Field) error {
	if err := writeFields(w, outer); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "MIME-Version: 1.0\r\n"+c.sender.autocrypt); err != nil {
		return err
	}
	return nil
}
