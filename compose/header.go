package compose

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
)

const (
	// foldAt is the line length RFC 5322 section 2.1.1 recommends; header
	// lines are folded at white space to stay within it where possible.
	foldAt = 78
	// maxLine is the hard limit of RFC 5322 section 2.1.1, without CRLF.
	maxLine = 998
)

// formatAddressList returns the addresses as the value of an address field.
func formatAddressList(list []*mail.Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = formatAddress(a)
	}
	return strings.Join(parts, ", ")
}

// formatAddress returns a as a mailbox: the bare addr-spec, or a display
// name and the addr-spec in angle brackets. The address is a dot-atom and an
// ASCII domain, as normalizeAddress ensures, so it needs no quoting.
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return formatPhrase(a.Name) + " <" + a.Address + ">"
}

// formatPhrase returns a display name as an RFC 5322 phrase. ASCII names of
// atoms stay as they are; other ASCII names become a quoted string, so a
// comma or an "=?" cannot be misread. Other names become RFC 2047 encoded
// words, in B encoding when the name holds a special, because Q encoding
// leaves specials as they are and RFC 2047 section 5 forbids them in a phrase.
func formatPhrase(name string) string {
	if isASCII(name) {
		if isAtomPhrase(name) {
			return name
		}
		return quoteString(name)
	}
	if strings.ContainsAny(name, "\"#$%&'(),.:;<>@[]\\^`{|}~") {
		return mime.BEncoding.Encode("utf-8", name)
	}
	return mime.QEncoding.Encode("utf-8", name)
}

// isAtomPhrase reports whether name is atoms separated by single spaces.
func isAtomPhrase(name string) bool {
	if name == "" || strings.Contains(name, "=?") {
		return false
	}
	for _, word := range strings.Split(name, " ") {
		if word == "" {
			return false
		}
		for i := 0; i < len(word); i++ {
			if !isAtext(word[i]) {
				return false
			}
		}
	}
	return true
}

// isAtext reports whether c is an atext character of RFC 5322 section 3.2.3.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// encodeText returns unstructured text, such as a subject, as it goes in a
// header: ASCII as is, other text as RFC 2047 Q-encoded words of at most 75
// characters each, which the folding can break between.
func encodeText(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}

// writeField writes one header field, folded at white space to lines of at
// most 78 characters where possible. A run without white space that makes a
// line longer than 998 characters is an error.
func writeField(w io.Writer, name, value string) error {
	line := name + ": " + value
	start := len(name) + 2
	var b strings.Builder
	for len(line) > foldAt {
		cut := foldPoint(line, start)
		if cut < 0 {
			break
		}
		if cut > maxLine {
			return fmt.Errorf("failed to write header field %s: a word is too long to fold within %d characters", name, maxLine)
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n")
		line = line[cut:] // keeps the white space, which starts the next line
		start = 1
	}
	if len(line) > maxLine {
		return fmt.Errorf("failed to write header field %s: a word is too long to fold within %d characters", name, maxLine)
	}
	b.WriteString(line)
	b.WriteString("\r\n")

	_, err := io.WriteString(w, b.String())
	return err
}

// foldPoint returns the index of the white space at or after start to fold
// line before: the last one that keeps the line within foldAt, or else the
// first one after it. It returns -1 when there is none. Only white space
// followed by more text is a fold point, so no line is only white space.
func foldPoint(line string, start int) int {
	last := len(strings.TrimRight(line, " \t"))
	best := -1
	for i := start; i < last; i++ {
		if line[i] != ' ' && line[i] != '\t' {
			continue
		}
		if line[i-1] == ' ' || line[i-1] == '\t' {
			continue // fold only before the first of a run of white space
		}
		if i <= foldAt {
			best = i
			continue
		}
		if best < 0 {
			best = i
		}
		break
	}
	return best
}
