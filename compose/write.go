package compose

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sealmail/sealmail/crypto/pgpmime"
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
	if err := c.writeHeader(bw, cp); err != nil {
		return fmt.Errorf("failed to write the header of %s: %w", name, err)
	}

	body := func(w io.Writer) error { return writeBody(ctx, w, c.msg) }
	popts := &pgpmime.Options{Now: c.opts.Now}
	var err error
	switch c.opts.Mode {
	case SignOnly:
		err = pgpmime.Sign(bw, c.opts.Signer, body, popts)
	case EncryptOnly:
		err = pgpmime.Encrypt(bw, cp.keys, nil, body, popts)
	default:
		err = pgpmime.Encrypt(bw, cp.keys, c.opts.Signer, body, popts)
	}
	if err != nil {
		return fmt.Errorf("failed to protect %s: %w", name, err)
	}

	if err := bw.Flush(); err != nil {
		return fmt.Errorf("failed to write %s: %w", name, err)
	}
	return nil
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

// writeHeader writes the outer header fields of a copy, up to the
// Content-Type field that pgpmime writes. It never writes Bcc: Bcc
// recipients are only in the envelope.
func (c *Composer) writeHeader(w io.Writer, cp *plannedCopy) error {
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
		Field{"MIME-Version", "1.0"},
	)
	fields = append(fields, m.Header...)

	for _, f := range fields {
		if err := writeField(w, f.Name, f.Value); err != nil {
			return err
		}
	}
	return nil
}
