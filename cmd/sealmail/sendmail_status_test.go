package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/smtp"
	"github.com/sealmail/sealmail/transport/spool"
)

func TestSendmailStatus(t *testing.T) {
	const (
		a = copyAccepted
		w = copyTemporary
		r = copyRefused
		u = copyUncertain
		s = copySetupFailed
	)
	tests := []struct {
		name     string
		outcomes []copyOutcome
		status   int
		remove   bool
	}{
		{"one accepted", []copyOutcome{a}, 0, false},
		{"all accepted", []copyOutcome{a, a, a}, 0, false},
		{"one temporary", []copyOutcome{w}, exitTempFail, true},
		{"all temporary", []copyOutcome{w, w}, exitTempFail, true},
		{"one refused", []copyOutcome{r}, exitUnavailable, true},
		{"refused and temporary", []copyOutcome{w, r}, exitUnavailable, true},
		{"one uncertain", []copyOutcome{u}, exitIOErr, false},
		{"uncertain and temporary", []copyOutcome{u, w}, exitIOErr, false},
		{"accepted and temporary", []copyOutcome{a, w}, exitIOErr, false},
		{"accepted and refused", []copyOutcome{a, r}, exitIOErr, false},
		{"temporary after accepted", []copyOutcome{w, a}, exitIOErr, false},
		{"setup failed", []copyOutcome{s, s}, exitConfig, true},
		{"setup failed and temporary", []copyOutcome{w, s}, exitConfig, true},
		{"setup failed and refused", []copyOutcome{s, r}, exitUnavailable, true},
		{"setup failed after accepted", []copyOutcome{a, s}, exitIOErr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, remove := sendmailStatus(tt.outcomes)
			if status != tt.status {
				t.Errorf("status = %d, want %d", status, tt.status)
			}
			if remove != tt.remove {
				t.Errorf("remove = %v, want %v", remove, tt.remove)
			}
		})
	}
}

func TestClassifyCopy(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("%w (kept in the queue as x, failed)", err) }
	tests := []struct {
		name   string
		queued bool
		state  spool.State
		err    error
		want   copyOutcome
	}{
		{"removed after acceptance", false, "", nil, copyAccepted},
		{"accepted, sent copy not kept", true, spool.StateAccepted, errors.New("failed to keep the sent copy"), copyAccepted},
		{"pending after a 4xx reply", true, spool.StatePending, wrap(&smtp.SendError{Command: "end of DATA", Reply: smtp.Reply{Code: 451}}), copyTemporary},
		{"pending, never tried", true, spool.StatePending, errors.New("not sent: interrupted"), copyTemporary},
		{"SMTP 5xx", true, spool.StateFailed, wrap(&smtp.SendError{Command: "end of DATA", Reply: smtp.Reply{Code: 554}}), copyRefused},
		{"SMTP recipient refused", true, spool.StateFailed, wrap(&smtp.SendError{Command: "RCPT TO", Refused: []smtp.RecipientError{{Address: "bob@example.org", Reply: smtp.Reply{Code: 550}}}}), copyRefused},
		{"SMTP connection lost after data", true, spool.StateFailed, wrap(&smtp.SendError{Uncertain: true}), copyUncertain},
		{"SMTP no greeting", true, spool.StateFailed, wrap(&smtp.SendError{Err: errors.New("no SMTP greeting within 15s")}), copySetupFailed},
		{"SMTP no STARTTLS", true, spool.StateFailed, wrap(&smtp.SendError{Err: errors.New("the server does not offer STARTTLS")}), copySetupFailed},
		{"SMTP greeting 554", true, spool.StateFailed, wrap(&smtp.SendError{Command: "EHLO or STARTTLS", Reply: smtp.Reply{Code: 554}}), copySetupFailed},
		{"SMTP wrong password", true, spool.StateFailed, wrap(&smtp.SendError{Command: "AUTH", Reply: smtp.Reply{Code: 535}}), copySetupFailed},
		{"SMTP authentication required", true, spool.StateFailed, wrap(&smtp.SendError{Command: "MAIL FROM", Reply: smtp.Reply{Code: 530}}), copySetupFailed},
		{"SMTP host not found", true, spool.StatePending, wrap(&smtp.SendError{Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "smtp.example.org", IsNotFound: true}}}), copySetupFailed},
		{"SMTP interrupted during data", true, spool.StateFailed, wrap(&smtp.SendError{Command: "DATA", Err: fmt.Errorf("%w (connection closed)", context.Canceled)}), copyTemporary},
		{"SMTP interrupted during setup", true, spool.StateFailed, wrap(&smtp.SendError{Err: fmt.Errorf("%w (connection closed)", context.Canceled)}), copyTemporary},
		{"SMTP interrupted after data", true, spool.StateFailed, wrap(&smtp.SendError{Command: "end of DATA", Uncertain: true, Err: context.Canceled}), copyUncertain},
		{"SES rejected", true, spool.StateFailed, wrap(&ses.SendError{Code: "MessageRejected", StatusCode: 400}), copyRefused},
		{"SES 5xx", true, spool.StateFailed, wrap(&ses.SendError{StatusCode: 500, Uncertain: true}), copyUncertain},
		{"SES throttled", true, spool.StatePending, wrap(&ses.SendError{Throttled: true, StatusCode: 429}), copyTemporary},
		{"SES no credentials", true, spool.StatePending, wrap(&ses.SendError{Unsent: true, Err: errors.New("failed to get credentials")}), copySetupFailed},
		{"SES untrusted certificate", true, spool.StatePending, wrap(&ses.SendError{Unsent: true, Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}), copySetupFailed},
		{"SES connection refused", true, spool.StatePending, wrap(&ses.SendError{Unsent: true, Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), copyTemporary},
		{"SES host not found", true, spool.StatePending, wrap(&ses.SendError{Unsent: true, Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "email.example.org", IsNotFound: true}}}), copySetupFailed},
		{"SES interrupted before the request", true, spool.StatePending, wrap(&ses.SendError{Unsent: true, Err: fmt.Errorf("failed to start the SES request: %w", context.Canceled)}), copyTemporary},
		{"SES access denied", true, spool.StateFailed, wrap(&ses.SendError{Code: "AccessDeniedException", StatusCode: 403}), copySetupFailed},
		{"SES unknown configuration set", true, spool.StateFailed, wrap(&ses.SendError{Code: "NotFoundException", StatusCode: 404}), copySetupFailed},
		{"unclassified failure", true, spool.StateFailed, errors.New("disk full"), copyUncertain},
		{"interrupted before the commit point", true, spool.StateInterrupted, nil, copyTemporary},
		{"interrupted, record not written", true, spool.StateInterrupted, errors.New("failed to write the spool record"), copyTemporary},
		{"interrupted, host not found", true, spool.StateInterrupted, wrap(&smtp.SendError{Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "smtp.example.org", IsNotFound: true}}}), copySetupFailed},
		{"submitted elsewhere", true, spool.StateSubmitted, nil, copyUncertain},
		{"unconfirmed after the commit point", true, spool.StateUnconfirmed, nil, copyUncertain},
		{"unconfirmed, accepted record not written", true, spool.StateUnconfirmed, errors.New("the transport accepted spool entry x, but failed to write"), copyUncertain},
		{"being sent elsewhere", true, spool.StateSending, nil, copyUncertain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyCopy(tt.queued, tt.state, tt.err); got != tt.want {
				t.Errorf("classifyCopy = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseSendmailArgs(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		extract    bool
		sender     string
		recipients []string
	}{
		{"mutt", []string{"-oem", "-oi", "--", "bob@example.org", "carol@example.org"}, false, "", []string{"bob@example.org", "carol@example.org"}},
		{"git send-email", []string{"-i", "bob@example.org"}, false, "", []string{"bob@example.org"}},
		{"cron", []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "ops@example.org"}, false, "", []string{"ops@example.org"}},
		{"grouped flags", []string{"-ti"}, true, "", []string{}},
		{"sender attached", []string{"-falice@example.org", "-t"}, true, "alice@example.org", []string{}},
		{"sender separate", []string{"-f", "alice@example.org", "bob@example.org"}, false, "alice@example.org", []string{"bob@example.org"}},
		{"-r as sender", []string{"-r", "alice@example.org", "bob@example.org"}, false, "alice@example.org", []string{"bob@example.org"}},
		{"ignored values", []string{"-F", "Alice", "-N", "never", "-O", "x=y", "-odi", "-B", "7BIT", "-v", "-bm", "bob@example.org"}, false, "", []string{"bob@example.org"}},
		{"options end at an address", []string{"bob@example.org", "-t"}, false, "", []string{"bob@example.org", "-t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := parseSendmailArgs(tt.args)
			if err != nil {
				t.Fatalf("parseSendmailArgs: %v", err)
			}
			if opts.extractRecipients != tt.extract || opts.sender != tt.sender || !slices.Equal(opts.recipients, tt.recipients) {
				t.Errorf("got -t %v, sender %q, recipients %q; want %v, %q, %q", opts.extractRecipients, opts.sender, opts.recipients, tt.extract, tt.sender, tt.recipients)
			}
		})
	}
}

func TestParseSendmailArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"SMTP mode", []string{"-bs"}, "-bs (SMTP on standard input) is not supported"},
		{"queue listing", []string{"-bp"}, "sealmail queue list"},
		{"daemon", []string{"-bd"}, "daemon mode"},
		{"queue run", []string{"-q"}, "sealmail queue flush"},
		{"queue interval", []string{"-q30m"}, "sealmail queue flush"},
		{"newaliases", []string{"-I"}, "alias database"},
		{"unknown option", []string{"-k"}, "unknown option -k"},
		{"missing value", []string{"-f"}, "-f needs a value"},
		{"invalid body type", []string{"-B", "BINARYMIME"}, "use 8BITMIME or 7BIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSendmailArgs(tt.args)
			var usage *usageError
			if !errors.As(err, &usage) {
				t.Fatalf("error = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
