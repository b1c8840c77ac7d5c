package ses

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxLineLength is the longest line RFC 5322 section 2.1.1 allows, in octets
// without the CRLF.
const MaxLineLength = 998

// Errors that Preflight wraps, so that callers can tell the causes apart
// with errors.Is.
var (
	ErrEmptyMessage   = errors.New("empty message")
	ErrBareLineBreak  = errors.New("bare CR or LF, lines must end in CRLF")
	ErrNUL            = errors.New("NUL character")
	ErrLineTooLong    = errors.New("line longer than 998 octets")
	ErrInvalidField   = errors.New("invalid header field")
	ErrEmptyField     = errors.New("empty header field")
	ErrDuplicateField = errors.New("duplicate header field")
	ErrBccField       = errors.New("bcc header field in the raw message, whose recipients belong in the envelope only")
)

// singletonFields are the top-level header fields that may appear at most
// once (RFC 5322 section 3.6, RFC 2045, RFC 2183), in lower case.
var singletonFields = map[string]bool{
	"from":                      true,
	"to":                        true,
	"cc":                        true,
	"subject":                   true,
	"date":                      true,
	"message-id":                true,
	"reply-to":                  true,
	"sender":                    true,
	"content-type":              true,
	"mime-version":              true,
	"content-transfer-encoding": true,
	"content-disposition":       true,
}

// Preflight checks a raw message for what SES rejects, or accepts and the
// receiving server later bounces. It rejects a bare CR or LF, a NUL and a
// line longer than 998 octets. In the top-level header it rejects a
// malformed or empty field, a second singleton field, and any Bcc or
// Resent-Bcc field. The last line may lack
// its CRLF, as RFC 5322 allows. The error names the line and wraps one of
// the Err values of this package.
func Preflight(raw []byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("invalid raw message: %w", ErrEmptyMessage)
	}

	h := headerChecker{seen: make(map[string]bool)}
	inHeader := true
	for n := 1; len(raw) > 0; n++ {
		line, rest, err := cutLine(raw)
		if err != nil {
			return fmt.Errorf("invalid raw message: line %d: %w", n, err)
		}
		raw = rest

		if !inHeader {
			continue
		}
		if err := h.add(line, n); err != nil {
			return fmt.Errorf("invalid raw message: %w", err)
		}
		if len(line) == 0 {
			inHeader = false
		}
	}
	if err := h.flush(); err != nil {
		return fmt.Errorf("invalid raw message: %w", err)
	}
	return nil
}

// cutLine returns the first line of raw without its CRLF and the rest after
// it. Only the last line of raw may lack the CRLF.
func cutLine(raw []byte) (line, rest []byte, err error) {
	line, rest, terminated := bytes.Cut(raw, []byte{'\n'})
	if terminated {
		var ok bool
		line, ok = bytes.CutSuffix(line, []byte{'\r'})
		if !ok {
			return nil, nil, ErrBareLineBreak
		}
	}

	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, ErrBareLineBreak
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, nil, ErrNUL
	}
	if len(line) > MaxLineLength {
		return nil, nil, fmt.Errorf("%w: %d octets", ErrLineTooLong, len(line))
	}
	return line, rest, nil
}

// headerChecker checks the fields of the top-level header, one line at a
// time, folded lines included.
type headerChecker struct {
	seen map[string]bool
	// name, value and line are those of the field being read. name is ""
	// before the first field.
	name  string
	value []byte
	line  int
}

// add reads line number n of the header. An empty line ends the header.
func (h *headerChecker) add(line []byte, n int) error {
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		if h.name == "" {
			return fmt.Errorf("line %d: %w: folded line without a field before it", n, ErrInvalidField)
		}
		h.value = append(h.value, line...)
		return nil
	}

	if err := h.flush(); err != nil {
		return err
	}
	if len(line) == 0 {
		return nil
	}

	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok || len(name) == 0 || !isFieldName(name) {
		return fmt.Errorf("line %d: %w: %q is not \"name: value\"", n, ErrInvalidField, truncate(line, 40))
	}
	h.name = string(name)
	h.value = append(h.value[:0], value...)
	h.line = n
	return nil
}

// flush checks the field read last, if any.
func (h *headerChecker) flush() error {
	if h.name == "" {
		return nil
	}
	name := h.name
	h.name = ""

	key := strings.ToLower(name)
	if key == "bcc" || key == "resent-bcc" {
		return fmt.Errorf("line %d: %w", h.line, ErrBccField)
	}
	if len(bytes.Trim(h.value, " \t")) == 0 {
		return fmt.Errorf("line %d: %w %q", h.line, ErrEmptyField, name)
	}
	if singletonFields[key] && h.seen[key] {
		return fmt.Errorf("line %d: %w %q", h.line, ErrDuplicateField, name)
	}
	h.seen[key] = true
	return nil
}

// isFieldName reports whether name consists of printable ASCII other than
// the colon (RFC 5322 section 3.6.8).
func isFieldName(name []byte) bool {
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
