package pgpmime

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
)

// crlfWriter turns the LF line endings of go-crypto's armor.Encode into the
// CRLF that MIME requires. Armor output contains no CR, so a CR is an error
// rather than a guess.
type crlfWriter struct {
	w io.Writer
}

func (c crlfWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			n, err := c.w.Write(p)
			return written + n, err
		}
		if p[i] == '\r' {
			return written, fmt.Errorf("pgpmime: unexpected CR in armor output")
		}

		if _, err := c.w.Write(p[:i]); err != nil {
			return written, err
		}
		if _, err := io.WriteString(c.w, "\r\n"); err != nil {
			return written, err
		}
		written += i + 1
		p = p[i+1:]
	}
	return written, nil
}

// maxLineLength is the limit of RFC 5322 section 2.1.1 on a line, in octets
// without the CRLF.
const maxLineLength = 998

// entityChecker passes bytes through to w and rejects an entity that would
// not survive transport unchanged: a bare CR or LF, a NUL or 8-bit octet, a
// line longer than maxLineLength. With signed set it also rejects trailing
// white space and lines that start with "From ", which relays rewrite.
type entityChecker struct {
	w      io.Writer
	signed bool

	line       int  // 1-based number of the current line
	lineLength int  // octets in the current line so far
	pendingCR  bool // the previous octet was a CR
	lastSpace  bool // the previous octet was a space or tab
	linePrefix [5]byte
}

func newEntityChecker(w io.Writer, signed bool) *entityChecker {
	return &entityChecker{w: w, signed: signed, line: 1}
}

func (c *entityChecker) Write(p []byte) (int, error) {
	for _, b := range p {
		if err := c.check(b); err != nil {
			return 0, err
		}
	}
	return c.w.Write(p)
}

// check advances the checker by one octet.
func (c *entityChecker) check(b byte) error {
	if c.pendingCR {
		if b != '\n' {
			return c.fail("bare CR")
		}
		c.pendingCR = false
		c.line++
		c.lineLength = 0
		c.lastSpace = false
		return nil
	}

	switch {
	case b == '\r':
		if c.signed && c.lastSpace {
			return c.fail("trailing white space")
		}
		c.pendingCR = true
		return nil
	case b == '\n':
		return c.fail("bare LF")
	case b == 0:
		return c.fail("NUL octet")
	case b >= 0x80:
		return c.fail(fmt.Sprintf("8-bit octet 0x%02x", b))
	}

	if c.lineLength < len(c.linePrefix) {
		c.linePrefix[c.lineLength] = b
		if c.signed && c.lineLength == len(c.linePrefix)-1 && string(c.linePrefix[:]) == "From " {
			return c.fail(`line starts with "From "`)
		}
	}
	c.lineLength++
	if c.lineLength > maxLineLength {
		return c.fail(fmt.Sprintf("line longer than %d octets", maxLineLength))
	}
	c.lastSpace = b == ' ' || b == '\t'
	return nil
}

// Close checks the end of the entity: the last line may lack a line break,
// because the CRLF before the next boundary belongs to the boundary.
func (c *entityChecker) Close() error {
	if c.pendingCR {
		return c.fail("bare CR")
	}
	if c.signed && c.lastSpace {
		return c.fail("trailing white space")
	}
	return nil
}

func (c *entityChecker) fail(reason string) error {
	return fmt.Errorf("pgpmime: invalid entity at line %d: %s (write it 7-bit, with CRLF line endings)", c.line, reason)
}

// holdWriter buffers what go-crypto writes while it sets up a message, so
// nothing reaches the output before the recipients are checked, and then
// passes everything through to the writer given to release.
type holdWriter struct {
	held bytes.Buffer
	w    io.Writer
}

func (h *holdWriter) Write(p []byte) (int, error) {
	if h.w == nil {
		return h.held.Write(p)
	}
	return h.w.Write(p)
}

// release writes the held bytes to w and sends all later writes there.
func (h *holdWriter) release(w io.Writer) error {
	h.w = w
	_, err := h.held.WriteTo(w)
	return err
}

// prefixWriter keeps the first bytes written through it, to inspect the
// packet headers of a stream without holding the stream.
type prefixWriter struct {
	w      io.Writer
	prefix []byte
	max    int
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if room := p.max - len(p.prefix); room > 0 {
		p.prefix = append(p.prefix, b[:min(room, len(b))]...)
	}
	return p.w.Write(b)
}

// newBoundary returns a random multipart boundary. It contains "=_", which
// neither base64, armor nor quoted-printable can produce, and 128 random
// bits against collisions with any other text.
func newBoundary(rand io.Reader) (string, error) {
	var random [16]byte
	if _, err := io.ReadFull(rand, random[:]); err != nil {
		return "", fmt.Errorf("failed to read random bytes for a boundary: %w", err)
	}
	return "=_pgp." + hex.EncodeToString(random[:]), nil
}
