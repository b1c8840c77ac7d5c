package compose

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
)

func validMessage() *Message {
	return &Message{
		From:    addr("Alice <alice@example.org>"),
		To:      addrs("bob@example.org"),
		Subject: "Hello",
		Text:    []byte("Hi Bob\n"),
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(m *Message)
		want   string // a part of the error message
		field  string // InputError.Field, or "" for an error of another type
	}{
		{"missing from", func(m *Message) { m.From = nil }, "missing From", "From"},
		{"no recipients", func(m *Message) { m.To = nil }, "no recipients", "To"},
		{"nil recipient", func(m *Message) { m.Cc = []*mail.Address{nil} }, "invalid Cc", "Cc"},
		{"CR in subject", func(m *Message) { m.Subject = "Hi\rBcc: eve@example.org" }, "invalid subject", "Subject"},
		{"LF in subject", func(m *Message) { m.Subject = "Hi\nthere" }, "line feed", "Subject"},
		{"LF in display name", func(m *Message) { m.To[0].Name = "Bob\nBcc: eve@example.org" }, "invalid To display name", "To"},
		{"CR in address", func(m *Message) { m.To[0].Address = "bob@example.org\r" }, "invalid To address", "To"},
		{"NUL in attachment name", func(m *Message) {
			m.Attachments = []Attachment{stringAttachment("a\x00.txt", "x")}
		}, "invalid attachment file name", "Attachments"},
		{"LF in attachment name", func(m *Message) {
			m.Attachments = []Attachment{stringAttachment("a\n.txt", "x")}
		}, "invalid attachment file name", "Attachments"},
		{"empty attachment name", func(m *Message) {
			m.Attachments = []Attachment{stringAttachment("", "x")}
		}, "file name is empty", "Attachments"},
		{"nil attachment open", func(m *Message) {
			m.Attachments = []Attachment{{Filename: "a.txt"}}
		}, "Open is nil", ""},
		{"LF in content type", func(m *Message) {
			a := stringAttachment("a.txt", "x")
			a.ContentType = "text/plain\nBcc: eve@example.org"
			m.Attachments = []Attachment{a}
		}, "invalid content type", "Attachments"},
		{"invalid content type", func(m *Message) {
			a := stringAttachment("a.txt", "x")
			a.ContentType = "text/"
			m.Attachments = []Attachment{a}
		}, "invalid content type", "Attachments"},
		{"non-ASCII local part", func(m *Message) { m.To[0].Address = "jörg@example.org" }, "SMTPUTF8", "To"},
		{"missing domain", func(m *Message) { m.To[0].Address = "bob@" }, "needs a local part", "To"},
		{"missing at", func(m *Message) { m.To[0].Address = "bob" }, "needs a local part", "To"},
		{"invalid domain", func(m *Message) { m.To[0].Address = "bob@exa mple.org" }, "invalid domain", "To"},
		{"empty domain label", func(m *Message) { m.To[0].Address = "bob@example..org" }, "empty label", "To"},
		{"trailing dot in domain", func(m *Message) { m.To[0].Address = "bob@example.org." }, "empty label", "To"},
		{"trailing dot in local part", func(m *Message) { m.To[0].Address = "bob.@example.org" }, "not a dot-atom", "To"},
		{"quoted local part", func(m *Message) { m.To[0].Address = "bob smith@example.org" }, "not a dot-atom", "To"},
		{"invalid UTF-8 in subject", func(m *Message) { m.Subject = "\xff" }, "not valid UTF-8", "Subject"},
		{"tab-free control in name", func(m *Message) { m.From.Name = "Al\x1bice" }, "control character", "From"},
		{"empty header value", func(m *Message) { m.Header = []Field{{"X-Mailer", " "}} }, "value is empty", "Header"},
		{"empty header name", func(m *Message) { m.Header = []Field{{"", "x"}} }, "name: it is empty", "Header"},
		{"colon in header name", func(m *Message) { m.Header = []Field{{"X-A:b", "x"}} }, "invalid header field name", "Header"},
		{"space in header name", func(m *Message) { m.Header = []Field{{"X A", "x"}} }, "invalid header field name", "Header"},
		{"LF in header value", func(m *Message) { m.Header = []Field{{"X-A", "x\nBcc: eve@example.org"}} }, "line feed", "Header"},
		{"non-ASCII header value", func(m *Message) { m.Header = []Field{{"X-A", "ä"}} }, "not ASCII", "Header"},
		{"Bcc header", func(m *Message) { m.Header = []Field{{"bcc", "eve@example.org"}} }, "use --bcc", "Header"},
		{"Resent-Bcc header", func(m *Message) { m.Header = []Field{{"Resent-Bcc", "eve@example.org"}} }, "add Bcc recipients with --bcc", "Header"},
		{"Content-Type header", func(m *Message) { m.Header = []Field{{"Content-Type", "text/plain"}} }, "sets this field itself", "Header"},
		{"Content-Disposition header", func(m *Message) { m.Header = []Field{{"content-disposition", "inline"}} }, "sets this field itself", "Header"},
		{"MIME-Version header", func(m *Message) { m.Header = []Field{{"Mime-Version", "1.0"}} }, "sets this field itself", "Header"},
		{"Message-ID header", func(m *Message) { m.Header = []Field{{"Message-Id", "<a@b>"}} }, "sets this field itself", "Header"},
		{"Return-Path header", func(m *Message) { m.Header = []Field{{"Return-Path", "<a@b>"}} }, "receiving server adds it", "Header"},
		{"Autocrypt header", func(m *Message) { m.Header = []Field{{"Autocrypt", "addr=a@b; keydata=AAAA"}} }, "sealmail writes it from the sender's OpenPGP key", "Header"},
		{"Autocrypt-Gossip header", func(m *Message) { m.Header = []Field{{"autocrypt-gossip", "addr=a@b; keydata=AAAA"}} }, "inside the encrypted part", "Header"},
		{"HP-Outer header", func(m *Message) { m.Header = []Field{{"HP-Outer", "Subject: [...]"}} }, "inside the encrypted part", "Header"},
		{"SES configuration set header", func(m *Message) { m.Header = []Field{{"X-SES-CONFIGURATION-SET", "cs"}} }, "use --configuration-set", "Header"},
		{"SES message tags header", func(m *Message) { m.Header = []Field{{"x-ses-message-tags", "a=b"}} }, "use --tag", "Header"},
		{"SES source ARN header", func(m *Message) { m.Header = []Field{{"X-SES-Source-Arn", "arn:aws:ses:x"}} }, "sending authorization", "Header"},
		{"SES from ARN header", func(m *Message) { m.Header = []Field{{"X-SES-FROM-ARN", "arn:aws:ses:x"}} }, "sending authorization", "Header"},
		{"SES return path ARN header", func(m *Message) { m.Header = []Field{{"x-ses-return-path-arn", "arn:aws:ses:x"}} }, "sending authorization", "Header"},
		{"long word in header value", func(m *Message) { m.Header = []Field{{"X-Long", strings.Repeat("a", 2000)}} }, `header field "X-Long" has a word of 2000 characters`, "Header"},
		{"long white space in header value", func(m *Message) { m.Header = []Field{{"X-Long", "a" + strings.Repeat(" ", 1000) + "b"}} }, `header field "X-Long" has a run of 1000 white space characters`, "Header"},
		{"invalid UTF-8 in text", func(m *Message) { m.Text = []byte("Gr\xfc\xdfe\n") }, "text body: it is not valid UTF-8 (the byte at offset 2 is 0xFC); convert it to UTF-8, for example with iconv, or attach the file", "Text"},
		{"invalid UTF-8 in HTML", func(m *Message) { m.HTML = []byte("<p>\xe9</p>") }, "HTML body: it is not valid UTF-8", "HTML"},
		{"truncated UTF-8 in text", func(m *Message) { m.Text = []byte("Gr\xc3") }, "not valid UTF-8", "Text"},
		{"NUL in text", func(m *Message) { m.Text = []byte("a\x00b") }, "text body: it contains a NUL byte", "Text"},
		{"NUL in HTML", func(m *Message) { m.HTML = []byte("<p>\x00</p>") }, "HTML body: it contains a NUL byte", "HTML"},
		{"composite content type", func(m *Message) {
			a := stringAttachment("a.eml", "x")
			a.ContentType = "message/rfc822"
			m.Attachments = []Attachment{a}
		}, "composite type", "Attachments"},
		{"nil Reply-To", func(m *Message) { m.ReplyTo = []*mail.Address{nil} }, "invalid Reply-To address: it is nil", "ReplyTo"},
		{"duplicate In-Reply-To", func(m *Message) {
			m.Header = []Field{{"In-Reply-To", "<a@b>"}, {"in-reply-to", "<c@d>"}}
		}, "only once", "Header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			tt.modify(m)

			_, err := normalize(m)
			if err == nil {
				t.Fatalf("normalize returned no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}

			var inputErr *InputError
			isInput := errors.As(err, &inputErr)
			if tt.field == "" && isInput {
				t.Errorf("error %q is an *InputError, want another type", err)
			}
			if tt.field != "" && !isInput {
				t.Fatalf("error %q is a %T, want an *InputError", err, err)
			}
			if isInput && inputErr.Field != tt.field {
				t.Errorf("InputError.Field = %q, want %q", inputErr.Field, tt.field)
			}
		})
	}
}

func TestNormalizeAcceptsValid(t *testing.T) {
	m := validMessage()
	m.Header = []Field{{"X-Mailer", "sealmail"}, {"In-Reply-To", "<a@example.org>"}, {"List-Id", "x"}, {"list-id", "y"}}
	m.Subject = "tab\tis fine"
	if _, err := normalize(m); err != nil {
		t.Fatalf("normalize: %v", err)
	}
}

func TestNormalizeIDNDomain(t *testing.T) {
	m := validMessage()
	m.From = addr("Jörg <joerg@bücher.example>")
	m.To = addrs("bob@MÜNCHEN.example")

	n, err := normalize(m)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	if got, want := n.From.Address, "joerg@xn--bcher-kva.example"; got != want {
		t.Errorf("From address = %q, want %q", got, want)
	}
	if got, want := n.To[0].Address, "bob@xn--mnchen-3ya.example"; got != want {
		t.Errorf("To address = %q, want %q", got, want)
	}
	if m.From.Address != "joerg@bücher.example" {
		t.Errorf("normalize changed the caller's address to %q", m.From.Address)
	}
}

func TestNormalizeFoldsDuplicates(t *testing.T) {
	m := validMessage()
	m.To = addrs("bob@example.org", "BOB@example.org")
	m.Cc = addrs("carol@example.org", "Bob@Example.org")
	m.Bcc = addrs("bob@example.org", "dave@example.org", "CAROL@example.org", "dave@example.org")

	n, err := normalize(m)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	if got := addressesOf(n.To); got != "bob@example.org" {
		t.Errorf("To = %s, want bob@example.org", got)
	}
	if got := addressesOf(n.Cc); got != "carol@example.org" {
		t.Errorf("Cc = %s, want carol@example.org", got)
	}
	if got := addressesOf(n.Bcc); got != "dave@example.org" {
		t.Errorf("Bcc = %s, want dave@example.org", got)
	}
}

func TestNormalizeContentType(t *testing.T) {
	m := validMessage()
	withType := stringAttachment("a.bin", "x")
	withType.ContentType = `Text/Plain; Charset="utf-8"; name="evil"`
	m.Attachments = []Attachment{stringAttachment("report.pdf", "x"), stringAttachment("noext", "x"), withType}

	n, err := normalize(m)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	want := []string{"application/pdf", "application/octet-stream", "text/plain; charset=utf-8"}
	for i, w := range want {
		if got := n.Attachments[i].ContentType; got != w {
			t.Errorf("attachment %d content type = %q, want %q", i, got, w)
		}
	}
	if m.Attachments[0].ContentType != "" {
		t.Errorf("normalize changed the caller's attachment")
	}
}

func addressesOf(list []*mail.Address) string {
	var s []string
	for _, a := range list {
		s = append(s, a.Address)
	}
	return strings.Join(s, ",")
}
