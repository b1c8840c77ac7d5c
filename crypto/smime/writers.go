package smime

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// maxLineLength is the limit of RFC 5322 section 2.1.1 on a line, in octets
// without the CRLF.
const maxLineLength = 998

// entityChecker passes bytes through to w and rejects an entity that would
// not survive transport unchanged: a bare CR or LF, a NUL or 8-bit octet, a
// line longer than maxLineLength, trailing white space, a line that starts
// with "From ", and a MIME-Version header field, which belongs only in the
// top-level header and which relays re-case inside a signed part.
type entityChecker struct {
	w io.Writer

	line       int  // 1-based number of the current line
	lineLength int  // octets in the current line so far
	pendingCR  bool // the previous octet was a CR
	lastSpace  bool // the previous octet was a space or tab
	inBody     bool // the empty line after the header fields has passed
	linePrefix [len("mime-version:")]byte
}

func newEntityChecker(w io.Writer) *entityChecker {
	return &entityChecker{w: w, line: 1}
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
		if c.lineLength == 0 {
			c.inBody = true
		}
		c.pendingCR = false
		c.line++
		c.lineLength = 0
		c.lastSpace = false
		return nil
	}

	switch {
	case b == '\r':
		if c.lastSpace {
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
		prefix := string(c.linePrefix[:c.lineLength+1])
		if prefix == "From " {
			return c.fail(`line starts with "From "`)
		}
		if !c.inBody && strings.EqualFold(prefix, "MIME-Version:") {
			return c.fail("MIME-Version header field inside the entity (it belongs in the top-level header only)")
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
	if c.lastSpace {
		return c.fail("trailing white space")
	}
	return nil
}

func (c *entityChecker) fail(reason string) error {
	return fmt.Errorf("smime: invalid entity at line %d: %s (write it 7-bit, with CRLF line endings)", c.line, reason)
}

// base64LineLength is the line length of base64 bodies (RFC 2045 section
// 6.8 allows at most 76 characters).
const base64LineLength = 76

// writeBase64Lines writes data as base64 in lines of base64LineLength
// characters, each ending in CRLF.
func writeBase64Lines(w io.Writer, data []byte) error {
	const chunk = base64LineLength / 4 * 3 // 57 octets encode to one line
	line := make([]byte, base64LineLength+2)
	for len(data) > 0 {
		n := min(chunk, len(data))
		encoded := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line, data[:n])
		line[encoded] = '\r'
		line[encoded+1] = '\n'
		if _, err := w.Write(line[:encoded+2]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// newBoundary returns a random multipart boundary. It contains "=_", which
// neither base64 nor quoted-printable can produce, and 128 random bits
// against collisions with any other text.
func newBoundary(rand io.Reader) (string, error) {
	var random [16]byte
	if _, err := io.ReadFull(rand, random[:]); err != nil {
		return "", fmt.Errorf("failed to read random bytes for a boundary: %w", err)
	}
	return "=_smime." + hex.EncodeToString(random[:]), nil
}
