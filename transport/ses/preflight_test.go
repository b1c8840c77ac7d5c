package ses_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/transport/ses"
)

func TestPreflightAccepts(t *testing.T) {
	tests := map[string]string{
		"simple":               testMessage,
		"no final CRLF":        strings.TrimSuffix(testMessage, "\r\n"),
		"header only":          "From: a@example.com\r\nSubject: x\r\n",
		"folded field":         "From: a@example.com\r\nSubject: a long\r\n subject\r\n\r\nbody\r\n",
		"998-octet line":       testMessage + strings.Repeat("x", 998) + "\r\n",
		"repeatable fields":    "Received: a\r\nReceived: b\r\nComments: c\r\nComments: d\r\n" + testMessage,
		"body repeats headers": testMessage + "From: x\r\nFrom: y\r\nBcc: z\r\nContent-Disposition:\r\n",
		"empty body line":      testMessage + "\r\n\r\n",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			if err := ses.Preflight([]byte(raw)); err != nil {
				t.Errorf("Preflight: %v", err)
			}
		})
	}
}

func TestPreflightRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want error
		text string
	}{
		{name: "empty", raw: "", want: ses.ErrEmptyMessage},
		{name: "bcc field", raw: "Bcc: carol@example.net\r\n" + testMessage, want: ses.ErrBccField, text: "line 1"},
		{name: "lower-case bcc field", raw: "bcc: carol@example.net\r\n" + testMessage, want: ses.ErrBccField},
		{name: "empty bcc field", raw: "From: a@example.com\r\nBcc:\r\n\r\nbody\r\n", want: ses.ErrBccField},
		{name: "resent-bcc field", raw: "Resent-Bcc: carol@example.net\r\n" + testMessage, want: ses.ErrBccField},
		{name: "2000-octet line", raw: testMessage + strings.Repeat("x", 2000) + "\r\n", want: ses.ErrLineTooLong, text: "line 10"},
		{name: "999-octet line", raw: testMessage + strings.Repeat("x", 999) + "\r\n", want: ses.ErrLineTooLong},
		{name: "long header line", raw: "Subject: " + strings.Repeat("x", 1000) + "\r\n" + testMessage, want: ses.ErrLineTooLong},
		{name: "bare LF in body", raw: testMessage + "second\nthird\r\n", want: ses.ErrBareLineBreak, text: "line 10"},
		{name: "bare LF in header", raw: "From: a@example.com\nTo: b@example.com\r\n\r\nbody\r\n", want: ses.ErrBareLineBreak, text: "line 1"},
		{name: "LF only message", raw: strings.ReplaceAll(testMessage, "\r\n", "\n"), want: ses.ErrBareLineBreak},
		{name: "bare CR", raw: testMessage + "a\rb\r\n", want: ses.ErrBareLineBreak},
		{name: "final bare CR", raw: testMessage + "a\r", want: ses.ErrBareLineBreak},
		{name: "NUL", raw: testMessage + "a\x00b\r\n", want: ses.ErrNUL},
		{name: "empty Content-Disposition", raw: "Content-Disposition:\r\n" + testMessage, want: ses.ErrEmptyField, text: `"Content-Disposition"`},
		{name: "blank Subject", raw: "Subject:  \t\r\nFrom: a@example.com\r\n\r\nbody\r\n", want: ses.ErrEmptyField},
		{name: "folded blank field", raw: "Subject:\r\n \r\nFrom: a@example.com\r\n\r\nbody\r\n", want: ses.ErrEmptyField},
		{name: "two Message-ID fields", raw: "Message-ID: <2@example.com>\r\n" + testMessage, want: ses.ErrDuplicateField, text: `"Message-ID"`},
		{name: "two Content-Type fields", raw: strings.Replace(testMessage, "\r\n\r\n", "\r\ncontent-type: text/html\r\n\r\n", 1), want: ses.ErrDuplicateField},
		{name: "two From fields", raw: "From: b@example.com\r\n" + testMessage, want: ses.ErrDuplicateField},
		{name: "line without colon", raw: "From a@example.com\r\n\r\nbody\r\n", want: ses.ErrInvalidField},
		{name: "folded first line", raw: " From: a@example.com\r\n\r\nbody\r\n", want: ses.ErrInvalidField},
		{name: "space in field name", raw: "Sub ject: x\r\n\r\nbody\r\n", want: ses.ErrInvalidField},
		{name: "empty field name", raw: ": x\r\n\r\nbody\r\n", want: ses.ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ses.Preflight([]byte(tt.raw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func FuzzPreflight(f *testing.F) {
	f.Add([]byte(testMessage))
	f.Add([]byte("Subject:\r\n folded\r\n\r\n"))
	f.Add([]byte("Bcc: x\r\n"))
	f.Add([]byte("a\rb\nc"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := ses.Preflight(raw)
		if err != nil {
			return
		}

		// An accepted message has CRLF line endings, short lines and no NUL.
		s := string(raw)
		if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") {
			t.Errorf("accepted a bare CR or LF: %q", raw)
		}
		if strings.ContainsRune(s, 0) {
			t.Errorf("accepted a NUL: %q", raw)
		}
		for line := range strings.SplitSeq(s, "\r\n") {
			if len(line) > ses.MaxLineLength {
				t.Errorf("accepted a line of %d octets", len(line))
			}
		}
	})
}
