package ses_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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

// emulatorAccount is the GetAccount response that aws-ses-v2-local returns
// from AWS_SES_ACCOUNT. Its schema requires every field.
const emulatorAccount = `{"DedicatedIpAutoWarmupEnabled":false,` +
	`"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"","Status":"GRANTED"},"UseCaseDescription":"","WebsiteURL":""},` +
	`"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":false,"SendingEnabled":true,` +
	`"SendQuota":{"Max24HourSend":200,"MaxSendRate":5,"SentLast24Hours":3},` +
	`"SuppressionAttributes":{"SuppressedReasons":[]}}`

func TestAccountEmulator(t *testing.T) {
	emu := sesemu.Start(t, "AWS_SES_ACCOUNT="+emulatorAccount)
	tr := newTestTransport(t, emu.URL, ses.Options{})

	a, err := tr.Account(context.Background())
	if err != nil {
		t.Fatalf("Account: %v", err)
	}
	want := ses.Account{Max24HourSend: 200, MaxSendRate: 5, SentLast24Hours: 3, SendingEnabled: true, EnforcementStatus: "HEALTHY"}
	if a != want {
		t.Errorf("Account() = %+v, want %+v", a, want)
	}
	if !a.Sandbox() {
		t.Errorf("Sandbox() = false for an account without production access")
	}
}

func TestSendPacedEmulator(t *testing.T) {
	emu := sesemu.Start(t, "AWS_SES_ACCOUNT="+emulatorAccount)
	tr := newTestTransport(t, emu.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				if _, err := tr.Send(context.Background(), env, strings.NewReader(signedHTMLMessage)); err != nil {
					t.Errorf("Send: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	p, err := tr.Pacing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxSendRate != 5 || p.Source != ses.PacingAccount {
		t.Errorf("Pacing() = %+v, want 5 per second from the account", p)
	}
	if n := len(emu.Emails(t)); n != 6 {
		t.Errorf("the emulator stored %d messages, want 6", n)
	}
	// Five intervals of 1/4.5 second after the first request.
	if min := 1100 * time.Millisecond; elapsed < min {
		t.Errorf("6 sends took %v, want at least %v at 90 percent of 5 per second", elapsed, min)
	}
}

func TestPacingEmulatorWithoutAccount(t *testing.T) {
	emu := sesemu.Start(t)
	tr := newTestTransport(t, emu.URL, ses.Options{})

	p, err := tr.Pacing(context.Background())
	if err != nil {
		t.Fatalf("Pacing: %v", err)
	}
	if p.Source != ses.PacingDefault || p.MaxSendRate != ses.DefaultMaxSendRate {
		t.Errorf("Pacing() = %+v, want the default rate", p)
	}
	var apiErr *ses.APIError
	if !errors.As(p.Err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("Pacing().Err = %v, want an *APIError with HTTP 400", p.Err)
	}
}
