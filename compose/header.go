package compose

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

const (
	// foldAt is the line length RFC 5322 section 2.1.1 recommends; header
	// lines are folded at white space to stay within it where possible.
	foldAt = 78
	// maxLine is the hard limit of RFC 5322 section 2.1.1, without CRLF.
	maxLine = 998
	// maxPlainPhrase is the longest ASCII display name written without
	// encoded words. Quoted, after the longest field name, it still fits in
	// maxLine whatever its words, because folding only shortens lines.
	maxPlainPhrase = maxLine - 100
	// maxEncodedWord is the longest encoded word of RFC 2047 section 2.
	maxEncodedWord = 75
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
// atoms stay as they are, and other short ASCII names become a quoted string,
// so a comma cannot be misread. Names that contain "=?" become encoded words,
// because many readers decode "=?...?=" even inside a quoted string. Other
// names become RFC 2047 encoded words, in B encoding when the name holds a
// special, because Q encoding leaves specials as they are and RFC 2047
// section 5 forbids them in a phrase.
func formatPhrase(name string) string {
	if isASCII(name) {
		switch {
		case strings.Contains(name, "=?"), len(name) > maxPlainPhrase:
			return encodeWords(name)
		case isAtomPhrase(name):
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

// encodeSubject returns the subject as it goes in the Subject field. ASCII
// that folds within maxLine stays as is. Other text becomes RFC 2047
// Q-encoded words, which can fold between any two words. That covers text
// outside ASCII and text with "=?", which readers would decode as an encoded
// word. It also covers a word or a run of white space too long for a line.
func encodeSubject(subject string) string {
	if !isASCII(subject) {
		return mime.QEncoding.Encode("utf-8", subject)
	}
	if strings.Contains(subject, "=?") {
		return encodeWords(subject)
	}
	if _, err := foldField("Subject", subject); err != nil {
		return encodeWords(subject)
	}
	return subject
}

// encodeWords returns s as RFC 2047 Q-encoded words of at most 75
// characters, separated by spaces, whatever s contains. It leaves only the
// characters RFC 2047 section 5 allows in a phrase unencoded, so the result
// is valid in a display name as well as in unstructured text, and it never
// splits a UTF-8 sequence between two words.
func encodeWords(s string) string {
	const prefix, suffix = "=?utf-8?q?", "?="
	room := maxEncodedWord - len(prefix) - len(suffix)

	var words []string
	var word strings.Builder
	for _, r := range s {
		encoded := qEncodeRune(r)
		if word.Len()+len(encoded) > room {
			words = append(words, prefix+word.String()+suffix)
			word.Reset()
		}
		word.WriteString(encoded)
	}
	if word.Len() > 0 || len(words) == 0 {
		words = append(words, prefix+word.String()+suffix)
	}
	return strings.Join(words, " ")
}

// qEncodeRune returns r in Q encoding: letters, digits and "!*+-/" as they
// are, a space as "_", and every other byte of its UTF-8 form as =XX.
func qEncodeRune(r rune) string {
	switch {
	case r == ' ':
		return "_"
	case r < utf8.RuneSelf && (isAlphanumeric(byte(r)) || strings.ContainsRune("!*+-/", r)):
		return string(r)
	}
	var b strings.Builder
	for _, c := range []byte(string(r)) {
		b.WriteByte('=')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0x0f])
	}
	return b.String()
}

func isAlphanumeric(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// writeField writes one header field, folded by foldField.
func writeField(w io.Writer, name, value string) error {
	folded, err := foldField(name, value)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, folded)
	return err
}

// foldField returns the header field name: value with its CRLF, folded at
// white space to lines of at most 78 characters where possible. A word or a
// run of white space that makes a line longer than 998 characters is an
// error, because a line cannot be folded within either.
func foldField(name, value string) (string, error) {
	line := name + ": " + value
	start := len(name) + 2 // where the value starts on the current line
	var b strings.Builder
	for len(line) > foldAt {
		cut := foldPoint(line, max(start, 1))
		if cut < 0 {
			break
		}
		if cut > maxLine {
			return "", longLineError(name, line[start:cut])
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n")
		line = line[cut:] // keeps the white space, which starts the next line
		start = 0
	}
	if len(line) > maxLine {
		return "", longLineError(name, line[start:])
	}
	b.WriteString(line)
	b.WriteString("\r\n")
	return b.String(), nil
}

// longLineError describes why segment, a header line without the field name,
// cannot be folded within maxLine.
func longLineError(name, segment string) error {
	word := strings.TrimLeft(segment, " \t")
	if blank := len(segment) - len(word); blank > len(word) {
		return fmt.Errorf("header field %q has a run of %d white space characters, but a header line is limited to %d characters; shorten the run", name, blank, maxLine)
	}
	return fmt.Errorf("header field %q has a word of %d characters, but a header line, with the field name, is limited to %d characters; shorten the word or break it with spaces", name, len(word), maxLine)
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
