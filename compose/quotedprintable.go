package compose

import (
	"bytes"
	"io"
)

// qpMaxLine is the longest encoded line RFC 2045 section 6.7 allows,
// without CRLF; the soft line break "=" counts.
const qpMaxLine = 76

// splitLines splits text into lines at CRLF, LF and lone CR alike. A final
// line break does not start another line.
func splitLines(text []byte) [][]byte {
	var lines [][]byte
	for len(text) > 0 {
		i := bytes.IndexAny(text, "\r\n")
		if i < 0 {
			lines = append(lines, text)
			break
		}
		lines = append(lines, text[:i])
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
	return lines
}

// writeQuotedPrintable writes text as quoted-printable (RFC 2045 section
// 6.7) with CRLF line breaks, whatever line endings text has, and ends it
// with a line break. Beyond what RFC 2045 requires, it encodes the "F" of a
// line that starts with "From " and a "." at the start of a line, which some
// MTAs alter (RFC 3156 section 3), so signed text survives transport. Its
// output contains "=" only before two hex digits or a line break, so it never
// contains "=_", which boundaries start with.
func writeQuotedPrintable(w io.Writer, text []byte) error {
	var buf []byte
	for _, line := range splitLines(text) {
		col := 0
		for i := range line {
			token := qpToken(line, i, col == 0)
			if col+len(token) > qpMaxLine-1 {
				buf = append(buf, "=\r\n"...)
				col = 0
				token = qpToken(line, i, true)
			}
			buf = append(buf, token...)
			col += len(token)
		}
		buf = append(buf, "\r\n"...)

		if len(buf) >= 4096 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

const upperHex = "0123456789ABCDEF"

// qpToken returns the encoding of line[i], which starts an encoded line when
// lineStart is true.
func qpToken(line []byte, i int, lineStart bool) []byte {
	c := line[i]
	literal := false
	switch {
	case c == ' ' || c == '\t':
		// White space at the end of a line would be lost in transport.
		literal = i < len(line)-1
	case c == 'F' && lineStart:
		literal = !bytes.HasPrefix(line[i:], []byte("From "))
	case c == '.' && lineStart:
		literal = false
	case c >= '!' && c <= '~' && c != '=':
		literal = true
	}
	if literal {
		return line[i : i+1]
	}
	return []byte{'=', upperHex[c>>4], upperHex[c&0x0f]}
}
