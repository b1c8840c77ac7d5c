package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable returns s with its control characters, Unicode bidirectional
// formatting characters and invalid UTF-8 bytes written as Go escapes, such
// as \x1b. User IDs, file names and server replies come from other people,
// and printed raw their escape sequences could move the cursor and paint a
// false fingerprint over the real one on the confirmation prompt.
func printable(s string) string {
	return escapeControls(s, false)
}

// printableLines is printable for multi-line messages: it keeps newlines and
// tabs.
func printableLines(s string) string {
	return escapeControls(s, true)
}

func escapeControls(s string, keepLines bool) string {
	if hasNoControls(s, keepLines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case needsEscape(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func hasNoControls(s string, keepLines bool) bool {
	for _, r := range s {
		if r == utf8.RuneError || needsEscape(r) && !(keepLines && (r == '\n' || r == '\t')) {
			return false
		}
	}
	return true
}

func needsEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// printableList returns the printable forms of items joined by ", ".
func printableList(items []string) string {
	out := make([]string, len(items))
	for i, item := range items {
		out[i] = printable(item)
	}
	return strings.Join(out, ", ")
}
