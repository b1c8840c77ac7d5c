package compose

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
)

const (
	textPlain = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	textHTML  = "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
)

// writeBody writes the MIME entity that gets signed or encrypted: its header
// fields (never MIME-Version, which belongs to the outer header only), an
// empty line and its body, all 7-bit with CRLF line endings.
//
// The tree is text/plain, text/html or a multipart/alternative of both, and
// with attachments a multipart/mixed of that part and the attachments. Apart
// from the boundaries, the output is the same each time.
func writeBody(ctx context.Context, w io.Writer, m *Message) error {
	bw := bufio.NewWriterSize(w, 32*1024)
	if err := writeTree(ctx, bw, m); err != nil {
		return err
	}
	return bw.Flush()
}

func writeTree(ctx context.Context, w io.Writer, m *Message) error {
	if len(m.Attachments) == 0 {
		return writeContent(w, m)
	}

	boundary := newBoundary()
	if err := writeMultipartHeader(w, "multipart/mixed", boundary); err != nil {
		return err
	}
	first := true
	if len(m.Text) > 0 || len(m.HTML) > 0 {
		if err := writeDelimiter(w, boundary, true); err != nil {
			return err
		}
		if err := writeContent(w, m); err != nil {
			return err
		}
		first = false
	}
	for i := range m.Attachments {
		if err := writeDelimiter(w, boundary, first); err != nil {
			return err
		}
		if err := writeAttachmentPart(ctx, w, &m.Attachments[i]); err != nil {
			return err
		}
		first = false
	}
	return writeCloseDelimiter(w, boundary)
}

// writeContent writes the text part, the HTML part, or a
// multipart/alternative of both with the text first (RFC 2046 section
// 5.1.4: the preferred form last). With neither it writes an empty text part.
func writeContent(w io.Writer, m *Message) error {
	if len(m.HTML) == 0 {
		return writeTextPart(w, textPlain, m.Text)
	}
	if len(m.Text) == 0 {
		return writeTextPart(w, textHTML, m.HTML)
	}

	boundary := newBoundary()
	if err := writeMultipartHeader(w, "multipart/alternative", boundary); err != nil {
		return err
	}
	if err := writeDelimiter(w, boundary, true); err != nil {
		return err
	}
	if err := writeTextPart(w, textPlain, m.Text); err != nil {
		return err
	}
	if err := writeDelimiter(w, boundary, false); err != nil {
		return err
	}
	if err := writeTextPart(w, textHTML, m.HTML); err != nil {
		return err
	}
	return writeCloseDelimiter(w, boundary)
}

func writeTextPart(w io.Writer, header string, text []byte) error {
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}
	return writeQuotedPrintable(w, text)
}

func writeMultipartHeader(w io.Writer, mediaType, boundary string) error {
	_, err := fmt.Fprintf(w, "Content-Type: %s;\r\n\tboundary=\"%s\"\r\n\r\n", mediaType, boundary)
	return err
}

// writeDelimiter starts the next part. The CRLF before a delimiter belongs
// to it (RFC 2046 section 5.1.1), so it is written here and each part keeps
// the line break its body ends with. The first delimiter follows an empty
// preamble and needs none.
func writeDelimiter(w io.Writer, boundary string, first bool) error {
	delimiter := "\r\n--" + boundary + "\r\n"
	if first {
		delimiter = delimiter[2:]
	}
	_, err := io.WriteString(w, delimiter)
	return err
}

func writeCloseDelimiter(w io.Writer, boundary string) error {
	_, err := io.WriteString(w, "\r\n--"+boundary+"--\r\n")
	return err
}

// newBoundary returns a random boundary that starts with "=_". Neither
// quoted-printable (which writes "=" only before two hex digits or a line
// break) nor base64 can produce "=_", so no part body contains it.
func newBoundary() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error, per crypto/rand's documentation
	return "=_" + hex.EncodeToString(b[:])
}
