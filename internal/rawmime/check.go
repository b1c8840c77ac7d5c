package rawmime

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// MaxLineLength is the limit of RFC 5322 section 2.1.1 on a line, in octets
// without the CRLF.
const MaxLineLength = 998

// CheckOptions choose the rules of a Checker beyond those every entity
// follows (7-bit, CRLF line endings, lines of at most MaxLineLength octets).
type CheckOptions struct {
	// Signed rejects trailing white space and lines that start with
	// "From ", which relays rewrite and so break a signature.
	Signed bool
	// NoMIMEVersion rejects a MIME-Version header field in the entity's
	// header: it belongs only in the top-level header, and relays re-case
	// it inside a signed part.
	NoMIMEVersion bool
}

// Checker passes bytes through to its writer and rejects an entity that
// would not survive transport unchanged: a bare CR or LF, a NUL or 8-bit
// octet, a line longer than MaxLineLength, and what the options add.
type Checker struct {
	w    io.Writer
	opts CheckOptions

	line       int  // 1-based number of the current line
	lineLength int  // octets in the current line so far
	pendingCR  bool // the previous octet was a CR
	lastSpace  bool // the previous octet was a space or tab
	inBody     bool // the empty line after the header fields has passed
	linePrefix [len("mime-version:")]byte
}

// NewChecker returns a Checker that writes to w.
func NewChecker(w io.Writer, opts CheckOptions) *Checker {
	return &Checker{w: w, opts: opts, line: 1}
}

func (c *Checker) Write(p []byte) (int, error) {
	for _, b := range p {
		if err := c.check(b); err != nil {
			return 0, err
		}
	}
	return c.w.Write(p)
}

// check advances the checker by one octet.
func (c *Checker) check(b byte) error {
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
		if c.opts.Signed && c.lastSpace {
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
		if c.opts.Signed && prefix == "From " {
			return c.fail(`line starts with "From "`)
		}
		if c.opts.NoMIMEVersion && !c.inBody && strings.EqualFold(prefix, "MIME-Version:") {
			return c.fail("MIME-Version header field inside the entity (it belongs in the top-level header only)")
		}
	}
	c.lineLength++
	if c.lineLength > MaxLineLength {
		return c.fail(fmt.Sprintf("line longer than %d octets", MaxLineLength))
	}
	c.lastSpace = b == ' ' || b == '\t'
	return nil
}

// Close checks the end of the entity. The last line may lack a line break,
// because the CRLF before the next boundary belongs to the boundary.
func (c *Checker) Close() error {
	if c.pendingCR {
		return c.fail("bare CR")
	}
	if c.opts.Signed && c.lastSpace {
		return c.fail("trailing white space")
	}
	return nil
}

func (c *Checker) fail(reason string) error {
	return fmt.Errorf("invalid entity at line %d: %s (write it 7-bit, with CRLF line endings)", c.line, reason)
}

// NewBoundary returns a random multipart boundary that starts with "=_",
// which neither base64 nor quoted-printable can produce, then prefix and
// 128 random bits against collisions with any other text.
func NewBoundary(rand io.Reader, prefix string) (string, error) {
	var random [16]byte
	if _, err := io.ReadFull(rand, random[:]); err != nil {
		return "", fmt.Errorf("failed to read random bytes for a boundary: %w", err)
	}
	return "=_" + prefix + hex.EncodeToString(random[:]), nil
}
