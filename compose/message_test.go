package compose

import (
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
	}{
		{"missing from", func(m *Message) { m.From = nil }, "missing From"},
		{"no recipients", func(m *Message) { m.To = nil }, "no recipients"},
		{"nil recipient", func(m *Message) { m.Cc = []*mail.Address{nil} }, "invalid Cc"},
		{"CR in subject", func(m *Message) { m.Subject = "Hi\rBcc: eve@example.org" }, "invalid subject"},
		{"LF in subject", func(m *Message) { m.Subject = "Hi\nthere" }, "line feed"},
		{"LF in display name", func(m *Message) { m.To[0].Name = "Bob\nBcc: eve@example.org" }, "invalid To display name"},
		{"CR in address", func(m *Message) { m.To[0].Address = "bob@example.org\r" }, "invalid To address"},
		{"NUL in attachment name", func(m *Message) {
			m.Attachments = []Attachment{stringAttachment("a\x00.txt", "x")}
		}, "invalid attachment file name"},
		{"LF in attachment name", func(m *Message) {
			m.Attachments = []Attachment{stringAttachment("a\n.txt", "x")}
		}, "invalid attachment file name"},
		{"empty attachment name", func(m *Message) {
			m.Attachments = []Attachment{stringAttachment("", "x")}
		}, "file name is empty"},
		{"nil attachment open", func(m *Message) {
			m.Attachments = []Attachment{{Filename: "a.txt"}}
		}, "Open is nil"},
		{"LF in content type", func(m *Message) {
			a := stringAttachment("a.txt", "x")
			a.ContentType = "text/plain\nBcc: eve@example.org"
			m.Attachments = []Attachment{a}
		}, "invalid content type"},
		{"invalid content type", func(m *Message) {
			a := stringAttachment("a.txt", "x")
			a.ContentType = "text/"
			m.Attachments = []Attachment{a}
		}, "invalid content type"},
		{"non-ASCII local part", func(m *Message) { m.To[0].Address = "jörg@example.org" }, "SMTPUTF8"},
		{"missing domain", func(m *Message) { m.To[0].Address = "bob@" }, "needs a local part"},
		{"missing at", func(m *Message) { m.To[0].Address = "bob" }, "needs a local part"},
		{"invalid domain", func(m *Message) { m.To[0].Address = "bob@exa mple.org" }, "invalid domain"},
		{"empty domain label", func(m *Message) { m.To[0].Address = "bob@example..org" }, "empty label"},
		{"trailing dot in domain", func(m *Message) { m.To[0].Address = "bob@example.org." }, "empty label"},
		{"trailing dot in local part", func(m *Message) { m.To[0].Address = "bob.@example.org" }, "not a dot-atom"},
		{"quoted local part", func(m *Message) { m.To[0].Address = "bob smith@example.org" }, "not a dot-atom"},
		{"invalid UTF-8 in subject", func(m *Message) { m.Subject = "\xff" }, "not valid UTF-8"},
		{"tab-free control in name", func(m *Message) { m.From.Name = "Al\x1bice" }, "control character"},
		{"empty header value", func(m *Message) { m.Header = []Field{{"X-Mailer", " "}} }, "value is empty"},
		{"empty header name", func(m *Message) { m.Header = []Field{{"", "x"}} }, "name: it is empty"},
		{"colon in header name", func(m *Message) { m.Header = []Field{{"X-A:b", "x"}} }, "invalid header field name"},
		{"space in header name", func(m *Message) { m.Header = []Field{{"X A", "x"}} }, "invalid header field name"},
		{"LF in header value", func(m *Message) { m.Header = []Field{{"X-A", "x\nBcc: eve@example.org"}} }, "line feed"},
		{"non-ASCII header value", func(m *Message) { m.Header = []Field{{"X-A", "ä"}} }, "not ASCII"},
		{"Bcc header", func(m *Message) { m.Header = []Field{{"bcc", "eve@example.org"}} }, "sets this field itself"},
		{"Content-Type header", func(m *Message) { m.Header = []Field{{"Content-Type", "text/plain"}} }, "sets this field itself"},
		{"Content-Disposition header", func(m *Message) { m.Header = []Field{{"content-disposition", "inline"}} }, "sets this field itself"},
		{"MIME-Version header", func(m *Message) { m.Header = []Field{{"Mime-Version", "1.0"}} }, "sets this field itself"},
		{"Message-ID header", func(m *Message) { m.Header = []Field{{"Message-Id", "<a@b>"}} }, "sets this field itself"},
		{"Return-Path header", func(m *Message) { m.Header = []Field{{"Return-Path", "<a@b>"}} }, "sets this field itself"},
		{"duplicate In-Reply-To", func(m *Message) {
			m.Header = []Field{{"In-Reply-To", "<a@b>"}, {"in-reply-to", "<c@d>"}}
		}, "only once"},
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

