package compose

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// gitMessage is a message as git send-email 2.39 hands it to sendmail, with
// LF line endings, a folded References field and 8-bit UTF-8 text.
const gitMessage = "From: Alice Example <alice@example.org>\n" +
	"To: bob@example.org\n" +
	"Cc: =?UTF-8?q?J=C3=B6rg?= <joerg@example.org>, carol@example.org\n" +
	"Bcc: dave@example.org\n" +
	"Subject: [PATCH 2/2] =?UTF-8?q?Change=20a.txt,=20with=20=C3=BC?=\n" +
	"Date: Sat,  5 Dec 2026 00:24:54 +0000\n" +
	"Message-Id: <20261205002454.18572-2-alice@example.org>\n" +
	"X-Mailer: git-send-email 2.39.5\n" +
	"In-Reply-To: <orig@example.org>\n" +
	"References: <orig@example.org>\n" +
	"\t<20261205002454.18572-1-alice@example.org>\n" +
	"MIME-Version: 1.0\n" +
	"Return-Path: <alice@example.org>\n" +
	"Autocrypt: addr=alice@example.org; keydata=\n" +
	" bWRhdGE=\n" +
	"HP-Outer: Subject: [...]\n" +
	"Autocrypt-Gossip: addr=bob@example.org; keydata=bWRhdGE=\n" +
	"Content-Type: text/plain; charset=UTF-8\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"---\n" +
	"+w\xc3\xb6rld  \n" +
	"-- \n" +
	"2.39.5\n"

func TestReadMessageFields(t *testing.T) {
	m, err := ReadMessage(strings.NewReader(gitMessage))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if got := formatAddress(m.From); got != `"Alice Example" <alice@example.org>` && got != "Alice Example <alice@example.org>" {
		t.Errorf("From = %q", got)
	}
	if got := addressesOf(m.To); got != "bob@example.org" {
		t.Errorf("To = %q", got)
	}
	if got := addressesOf(m.Cc); got != "joerg@example.org,carol@example.org" {
		t.Errorf("Cc = %q", got)
	}
	if m.Cc[0].Name != "Jörg" {
		t.Errorf("Cc display name = %q, want the decoded Jörg", m.Cc[0].Name)
	}
	if got := addressesOf(m.Bcc); got != "dave@example.org" {
		t.Errorf("Bcc = %q", got)
	}
	if m.Subject != "[PATCH 2/2] Change a.txt, with ü" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if want := time.Date(2026, 12, 5, 0, 24, 54, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if m.MessageID != "20261205002454.18572-2-alice@example.org" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	wantHeader := []Field{
		{"X-Mailer", "git-send-email 2.39.5"},
		{"In-Reply-To", "<orig@example.org>"},
		{"References", "<orig@example.org>\t<20261205002454.18572-1-alice@example.org>"},
	}
	if len(m.Header) != len(wantHeader) {
		t.Fatalf("Header = %q, want %q", m.Header, wantHeader)
	}
	for i := range wantHeader {
		if m.Header[i] != wantHeader[i] {
			t.Errorf("Header[%d] = %q, want %q", i, m.Header[i], wantHeader[i])
		}
	}
	wantEntity := "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n---\n+w\xc3\xb6rld  \n-- \n2.39.5\n"
	if string(m.Entity) != wantEntity {
		t.Errorf("Entity = %q, want %q", m.Entity, wantEntity)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestReadMessageCRLFAndMbox(t *testing.T) {
	raw := "From 1a2b3c Mon Sep 17 00:00:00 2001\n" + strings.ReplaceAll(gitMessage, "\n", "\r\n")
	m, err := ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if m.From == nil || m.From.Address != "alice@example.org" {
		t.Errorf("From = %v, want alice@example.org", m.From)
	}
	if !bytes.HasSuffix(m.Entity, []byte("\r\n2.39.5\r\n")) {
		t.Errorf("Entity = %q, want the body with its CRLF line endings", m.Entity)
	}
}

func TestReadMessageWithoutHeader(t *testing.T) {
	m, err := ReadMessage(strings.NewReader("just a body\nof two lines\n"))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if m.From != nil || m.To != nil || m.Subject != "" || len(m.Header) != 0 {
		t.Errorf("a message without header gave header values: %+v", m)
	}
	out, err := prepareEntity(m.Entity, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Content-Type: text/plain; charset=us-ascii\r\n\r\njust a body\r\nof two lines\r\n"; string(out) != want {
		t.Errorf("entity = %q, want %q", out, want)
	}
}

func TestReadMessageCronSender(t *testing.T) {
	raw := "From: root (Cron Daemon)\nTo: ops@example.org\nSubject: Cron <root@host> backup\n" +
		"X-Cron-Env: <LANG=de_DE.UTF-8 NAME=Jörg>\nAuto-Submitted: auto-generated\n\nok\n"
	m, err := ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if m.From != nil {
		t.Errorf("From = %v, want nil for an address without a domain", m.From)
	}
	if len(m.Header) != 2 || m.Header[0].Name != "X-Cron-Env" || !strings.HasPrefix(m.Header[0].Value, "=?utf-8?q?") {
		t.Errorf("Header = %q, want X-Cron-Env as encoded words, then Auto-Submitted", m.Header)
	}
	if err := checkFields(m.Header); err != nil {
		t.Errorf("the encoded field is rejected: %v", err)
	}
}

func TestReadMessageErrors(t *testing.T) {
	tests := []struct {
		name, raw string
		field     string // InputError.Field
		want      string // a part of the message
	}{
		{"twice Subject", "Subject: a\nTo: b@example.org\nSubject: c\n\nx", "Subject", "lines 1 and 3"},
		{"invalid To", "From: a@example.org\nTo: bob@\n\nx", "To", "To field (line 2)"},
		{"two senders", "From: a@example.org, b@example.org\n\nx", "From", "exactly one sender"},
		{"invalid Date", "Date: yesterday\n\nx", "Date", "Date field (line 1)"},
		{"Message-ID without brackets", "Message-ID: 1234@example.org\n\nx", "MessageID", "angle brackets"},
		{"Message-ID without at", "Message-ID: <1234>\n\nx", "MessageID", "an @"},
		{"8-bit subject not UTF-8", "Subject: caf\xe9\n\nx", "Subject", "not UTF-8"},
		{"UTF-8 in structured field", "In-Reply-To: <jörg@example.org>\n\nx", "Header", "structured"},
		{"line without colon", "From: a@example.org\nthis is no field\n\nx", "Header", "line 2 is neither"},
		{"NUL in header", "Subject: a\x00b\n\nx", "Header", "NUL"},
		{"unknown charset", "Subject: =?x-unknown?q?a?=\n\nx", "Subject", "Subject field (line 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadMessage(strings.NewReader(tt.raw))
			var input *InputError
			if !errors.As(err, &input) {
				t.Fatalf("error = %v, want an *InputError", err)
			}
			if input.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", input.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestReadMessageSESFieldRejected(t *testing.T) {
	m, err := ReadMessage(strings.NewReader("From: a@example.org\nTo: b@example.org\nX-SES-CONFIGURATION-SET: x\n\nhi\n"))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	err = m.Validate()
	var input *InputError
	if !errors.As(err, &input) || input.Field != "Header" || !strings.Contains(err.Error(), "configuration set") {
		t.Errorf("Validate = %v, want an *InputError on Header about the configuration set", err)
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add([]byte(gitMessage))
	f.Add([]byte("From: root (Cron Daemon)\nTo: a@example.org\n\nhi"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: binary\n\n\x00\xff\r\n--b\n\n\xc3\xa4\n--b--\n"))
	f.Add([]byte("Content-Type: message/rfc822\n\nSubject: x\nContent-Type: text/plain\n\nFrom here\n"))
	f.Add([]byte("Content-Type: text/plain;\n \n charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\xc3\xa4 \n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ReadMessage(bytes.NewReader(raw))
		if err != nil {
			var input *InputError
			if !errors.As(err, &input) {
				t.Fatalf("error is not an *InputError: %v", err)
			}
			return
		}
		for _, signed := range []bool{false, true} {
			out, err := prepareEntity(m.Entity, signed)
			if err != nil {
				continue
			}
			// What prepareEntity returns must pass the checks of the
			// signing and encrypting packages, and be stable.
			again, err := prepareEntity(out, signed)
			if err != nil {
				t.Fatalf("prepared entity (signed %v) is rejected when prepared again: %v\n%q", signed, err, out)
			}
			if signed && !bytes.Equal(again, out) {
				t.Fatalf("preparing a signed entity twice changed it:\n%q\n%q", out, again)
			}
		}
	})
}
