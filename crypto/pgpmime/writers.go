package pgpmime

import (
	"bytes"
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
