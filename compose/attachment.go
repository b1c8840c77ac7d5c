package compose

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Attachment is one file attached to a message. Its content is read as a
// stream each time a copy is written.
type Attachment struct {
	// Filename is the name the recipient sees; it may be any Unicode text
	// without control characters, and must not be empty.
	Filename string
	// ContentType is the media type; empty means derived from Filename's
	// extension, then "application/octet-stream".
	ContentType string
	// Open returns the content; it is called once per copy written.
	Open func() (io.ReadCloser, error)
}

// AttachFile returns an Attachment that reads the file at path, named after
// its last element. It checks that the file can be opened now; the file is
// opened again for every copy written.
func AttachFile(path string) (Attachment, error) {
	f, err := os.Open(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("failed to open attachment: %w", err)
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		return Attachment{}, fmt.Errorf("failed to open attachment: %w", err)
	}
	if info.IsDir() {
		return Attachment{}, fmt.Errorf("failed to attach %q: it is a directory", path)
	}

	open := func() (io.ReadCloser, error) { return os.Open(path) }
	return Attachment{Filename: filepath.Base(path), Open: open}, nil
}

// base64LineLen is the line length of base64 bodies (RFC 2045 section 6.8).
const base64LineLen = 76

// writeAttachmentPart writes the header and base64 body of a, streaming its
// content from a.Open.
func writeAttachmentPart(ctx context.Context, w io.Writer, a *Attachment) error {
	header := "Content-Type: " + a.ContentType + ";" + formatParameter("name", a.Filename) + "\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment;" + formatParameter("filename", a.Filename) + "\r\n\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}

	r, err := a.Open()
	if err != nil {
		return fmt.Errorf("failed to open attachment %q: %w", a.Filename, err)
	}
	defer r.Close()

	lines := &lineWriter{w: w, max: base64LineLen}
	enc := base64.NewEncoder(base64.StdEncoding, lines)
	if _, err := io.Copy(enc, contextReader{ctx: ctx, r: r}); err != nil {
		return fmt.Errorf("failed to read attachment %q: %w", a.Filename, err)
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return lines.end()
}

// contextReader stops reading once ctx is done, so that a long attachment
// can be interrupted.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// lineWriter breaks what it writes into lines of max bytes ending in CRLF.
type lineWriter struct {
	w   io.Writer
	max int
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := min(len(p), l.max-l.col)
		if _, err := l.w.Write(p[:chunk]); err != nil {
			return n, err
		}
		n += chunk
		l.col += chunk
		p = p[chunk:]
		if l.col == l.max {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// end ends the last line, if it has any content.
func (l *lineWriter) end() error {
	if l.col == 0 {
		return nil
	}
	l.col = 0
	_, err := io.WriteString(l.w, "\r\n")
	return err
}

// paramSegment is the longest value segment of a parameter on one line, so
// that its line (tab, attribute, "*NN*=utf-8”", segment, ";") stays within
// 78 characters.
const paramSegment = 50

// formatParameter returns "\r\n\tattribute=value" for a header field: a quoted
// string when the value is short printable ASCII, else RFC 2231 extended
// notation (percent-encoded UTF-8) split into continuations of at most
// paramSegment characters. go-message's encoded words inside quotes are
// avoided because RFC 2047 section 5 forbids them in parameters.
func formatParameter(attribute, value string) string {
	if quoted := quoteString(value); isASCII(value) && len(quoted) <= paramSegment+2 && !strings.ContainsAny(value, "\t") {
		return "\r\n\t" + attribute + "=" + quoted
	}

	encoded := percentEncode(value)
	var segments []string
	for len(encoded) > paramSegment {
		cut := paramSegment
		// Never split a %XX triple.
		if i := strings.LastIndexByte(encoded[cut-2:cut], '%'); i >= 0 {
			cut = cut - 2 + i
		}
		segments = append(segments, encoded[:cut])
		encoded = encoded[cut:]
	}
	segments = append(segments, encoded)

	if len(segments) == 1 {
		return "\r\n\t" + attribute + "*=utf-8''" + segments[0]
	}
	var b strings.Builder
	for i, s := range segments {
		if i > 0 {
			b.WriteByte(';')
		}
		if i == 0 {
			s = "utf-8''" + s
		}
		fmt.Fprintf(&b, "\r\n\t%s*%d*=%s", attribute, i, s)
	}
	return b.String()
}

// percentEncode encodes every byte of s that is not an attribute-char of
// RFC 2231 section 7 as %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttributeChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0x0f])
	}
	return b.String()
}

// isAttributeChar reports whether c may appear unencoded in an RFC 2231
// extended value: a token character other than "*", "'" and "%".
func isAttributeChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
