package rawmime

import (
	"io"
	"strings"
	"testing"
)

func TestCheckerRules(t *testing.T) {
	plain := CheckOptions{}
	signed := CheckOptions{Signed: true, NoMIMEVersion: true}
	tests := []struct {
		name   string
		entity string
		opts   CheckOptions
		want   string // "" when the entity passes
	}{
		{"clean entity", "Content-Type: text/plain\r\n\r\nHello\r\n", signed, ""},
		{"last line without break", "Content-Type: text/plain\r\n\r\nHello", signed, ""},
		{"bare LF", "A\nB", plain, "bare LF"},
		{"bare CR", "A\rB", plain, "bare CR"},
		{"NUL", "A\x00", plain, "NUL octet"},
		{"8-bit", "caf\xe9", plain, "8-bit octet 0xe9"},
		{"long line", strings.Repeat("x", MaxLineLength+1), plain, "line longer than 998 octets"},
		{"trailing space unsigned", "A \r\nB", plain, ""},
		{"trailing space signed", "A \r\nB", signed, "trailing white space"},
		{"trailing space at end signed", "A\r\nB\t", signed, "trailing white space"},
		{"From line unsigned", "\r\nFrom here\r\n", plain, ""},
		{"From line signed", "\r\nFrom here\r\n", signed, `line starts with "From "`},
		{"MIME-Version in header", "mime-version: 1.0\r\n\r\nA", signed, "MIME-Version header field"},
		{"MIME-Version in body", "Content-Type: text/plain\r\n\r\nMIME-Version: 1.0\r\n", signed, ""},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c := NewChecker(io.Discard, test.opts)
			_, err := c.Write([]byte(test.entity))
			if err == nil {
				err = c.Close()
			}
			switch {
			case test.want == "" && err != nil:
				t.Errorf("error = %v, want none", err)
			case test.want != "" && (err == nil || !strings.Contains(err.Error(), test.want)):
				t.Errorf("error = %v, want one containing %q", err, test.want)
			}
		})
	}
}

func TestNewBoundaryCannotOccurInEncodings(t *testing.T) {
	boundary, err := NewBoundary(strings.NewReader(strings.Repeat("r", 16)), "x.")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(boundary, "=_x.") {
		t.Errorf("boundary %q does not start with %q", boundary, "=_x.")
	}
	if len(boundary) > 70 {
		t.Errorf("boundary %q is longer than the 70 characters RFC 2046 allows", boundary)
	}
}
