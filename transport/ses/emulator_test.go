package ses_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/sesemu"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

// multipartMessage has a text part and an attachment, so that the emulator's
// parts can be checked.
const multipartMessage = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: Statement for March\r\n" +
	"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
	"Message-ID: <2@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Your statement is attached.\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Disposition: attachment; filename=\"statement.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQFBgc=\r\n" +
	"--b1--\r\n"

func TestSendEmulator(t *testing.T) {
	emu := sesemu.Start(t)
	tr := newTestTransport(t, emu.URL, ses.Options{
		ConfigurationSet: "statements",
		Tags:             []ses.Tag{{Name: "kind", Value: "statement"}},
	})
	if !tr.Insecure() {
		t.Errorf("Insecure() = false for %s, want true", emu.URL)
	}
	env := transport.Envelope{
		From:       "alice@example.com",
		Recipients: []string{"bob@example.com", "carol@example.net"},
	}

	id, err := tr.Send(context.Background(), env, strings.NewReader(multipartMessage))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}

	emails := emu.Emails(t)
	if len(emails) != 1 {
		t.Fatalf("the emulator stored %d messages, want 1:\n%s", len(emails), emu.Store(t))
	}
	got := emails[0]
	if got.MessageID != id {
		t.Errorf("stored message ID = %q, want %q", got.MessageID, id)
	}
	if got.Subject != "Statement for March" {
		t.Errorf("subject = %q, want %q", got.Subject, "Statement for March")
	}
	if !strings.Contains(got.From, "alice@example.com") || !strings.Contains(got.From, "Alice") {
		t.Errorf("from = %q, want the display name and address of the From field", got.From)
	}
	if strings.Join(got.Destination.To, ",") != "bob@example.com" {
		t.Errorf("to = %q, want bob@example.com", got.Destination.To)
	}
	if strings.TrimSpace(got.Body.Text) != "Your statement is attached." {
		t.Errorf("text body = %q", got.Body.Text)
	}
	if len(got.Attachments) != 1 {
		t.Fatalf("got %d attachments, want 1", len(got.Attachments))
	}
	att := got.Attachments[0]
	if att.Filename != "statement.bin" || att.ContentType != "application/octet-stream" {
		t.Errorf("attachment = %q of type %q, want statement.bin of type application/octet-stream", att.Filename, att.ContentType)
	}
	data, err := att.Data()
	if err != nil {
		t.Fatalf("attachment content: %v", err)
	}
	if string(data) != "\x00\x01\x02\x03\x04\x05\x06\x07" {
		t.Errorf("attachment content = %q, want bytes 0 to 7", data)
	}
}
