package main

import (
	"context"
	"errors"
	"net"

	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/smtp"
	"github.com/sealmail/sealmail/transport/spool"
)

// Exit statuses of sealmail sendmail, from sysexits.h, which sendmail and
// its callers (mail clients, git send-email, cron) use.
const (
	exitUsage       = 64 // EX_USAGE: invalid options or arguments
	exitDataErr     = 65 // EX_DATAERR: the message cannot be read or protected as it is
	exitNoUser      = 67 // EX_NOUSER: a recipient has no usable key
	exitUnavailable = 69 // EX_UNAVAILABLE: the transport refused the message for good
	exitIOErr       = 74 // EX_IOERR: partly sent or maybe sent; the rest is queued
	exitTempFail    = 75 // EX_TEMPFAIL: nothing was accepted, and a retry can help
	// EX_CONFIG: invalid config.toml, home, keyring or sender key, or a
	// session with the transport that these settings cannot set up.
	exitConfig = 78
)

// sendmailError is a failure of sealmail sendmail with its exit status.
type sendmailError struct {
	status int
	err    error
}

func (e *sendmailError) Error() string { return e.err.Error() }

func (e *sendmailError) Unwrap() error { return e.err }

// exitWith wraps err, if it is not nil, with the exit status.
func exitWith(status int, err error) error {
	if err == nil {
		return nil
	}
	return &sendmailError{status: status, err: err}
}

// copyOutcome is the outcome of handing one copy of a message to the
// transport.
type copyOutcome int

const (
	// copyAccepted: the transport accepted the copy, or another sealmail
	// process that took it from the queue sends it.
	copyAccepted copyOutcome = iota
	// copyTemporary: the copy was certainly not accepted, and a retry can
	// help (a 4xx reply, throttling, a failed connection, no attempt, or
	// an attempt that stopped before the commit point).
	copyTemporary
	// copyRefused: the transport refused the copy, and a retry of the same
	// bytes cannot help.
	copyRefused
	// copyUncertain: the transport may have accepted the copy, so sending
	// it again may deliver it twice.
	copyUncertain
	// copySetupFailed: the session with the transport could not be set up
	// for a cause that only the user can fix (a TLS mode that does not
	// match the port, an untrusted certificate, wrong credentials), so
	// nothing was sent.
	copySetupFailed
)

// classifyCopy returns the outcome of a copy from its queue entry after the
// send: queued reports whether the entry is still in the queue, with state,
// and sendErr is the error of the send, if any.
func classifyCopy(queued bool, state spool.State, sendErr error) copyOutcome {
	if !queued {
		return copyAccepted
	}
	switch state {
	case spool.StateAccepted:
		// Accepted, but the sent copy could not be kept; "queue retry"
		// keeps it without sending it again.
		return copyAccepted
	case spool.StatePending, spool.StateInterrupted:
		// The transport reported that the copy was certainly not accepted,
		// or the process that sent it stopped before the commit point, so
		// the server cannot have accepted it.
		if setupFailed(sendErr) {
			return copySetupFailed
		}
		return copyTemporary
	case spool.StateSubmitted, spool.StateUnconfirmed:
		// A process passed the commit point, and the server's reply is
		// still to come or was never recorded.
		return copyUncertain
	case spool.StateFailed:
		var sesErr *ses.SendError
		var smtpErr *smtp.SendError
		switch {
		case errors.As(sendErr, &sesErr):
			return classifySESError(sesErr)
		case errors.As(sendErr, &smtpErr):
			return classifySMTPError(smtpErr)
		}
	}
	// A failure the transports do not classify, an entry that another
	// process is sending and may yet take past the commit point, or a
	// record that cannot be read: it may have gone out.
	return copyUncertain
}

// classifySMTPError returns the outcome of a copy that the SMTP transport
// failed to send.
func classifySMTPError(e *smtp.SendError) copyOutcome {
	switch {
	case e.Uncertain:
		return copyUncertain
	case e.Temporary(), errors.Is(e, context.Canceled), errors.Is(e, context.DeadlineExceeded):
		// A signal or a timeout cut the session before the end of the
		// message data, so the server discarded what it had.
		return copyTemporary
	case setupFailed(e):
		return copySetupFailed
	}
	return copyRefused
}

// classifySESError returns the outcome of a copy that the SES transport
// failed to send.
func classifySESError(e *ses.SendError) copyOutcome {
	switch {
	case e.Uncertain:
		return copyUncertain
	case setupFailed(e):
		return copySetupFailed
	case e.Temporary(), errors.Is(e, context.Canceled), errors.Is(e, context.DeadlineExceeded):
		return copyTemporary
	}
	return copyRefused
}

// setupFailed reports whether err is a failure to set up the session with
// the transport that the user must fix in the settings: the message itself
// was never handed over, and sending it again unchanged cannot help.
//
// For SMTP that is any failure before MAIL FROM which the transport does not
// call temporary. Such failures are the greeting, TLS (a mode that does not
// match the port, an untrusted certificate, no STARTTLS, a version below TLS
// 1.2), EHLO, AUTH (535, wrong credentials), and a 530 reply (authentication
// required) to any command. For SES it is a request that never left for a cause other
// than the network (no credentials, an untrusted certificate, a plain HTTP
// server), an HTTP 401 or 403 (credentials or permissions), and an unknown
// configuration set. A host name that does not exist counts for both.
func setupFailed(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}

	var smtpErr *smtp.SendError
	if errors.As(err, &smtpErr) {
		if smtpErr.Uncertain || smtpErr.Temporary() {
			return false
		}
		if smtpErr.Reply.Code == 530 {
			return true
		}
		switch smtpErr.Command {
		case "", "EHLO or STARTTLS", "AUTH":
			return true
		}
		return false
	}

	var sesErr *ses.SendError
	if errors.As(err, &sesErr) {
		switch {
		case sesErr.Uncertain:
			return false
		case sesErr.Unsent:
			// A connection that could not be made may work later.
			var opErr *net.OpError
			return !errors.As(err, &opErr) || opErr.Op != "dial"
		case sesErr.StatusCode == 401, sesErr.StatusCode == 403:
			return true
		case sesErr.Code == "NotFoundException":
			// SES returns it for a configuration set that does not exist.
			return true
		}
	}
	return false
}

// sendmailStatus returns the exit status for the outcomes of the copies of
// one message, and whether the copies still queued are to be removed.
//
// The caller of sendmail keeps a message that was not accepted and sends it
// again. So when nothing was accepted and nothing may have been, the queued
// copies are removed, because a later queue run would deliver them a second
// time. When some copy was accepted or may have been, the caller must not
// send the message again: the others stay queued and the status is 74, never
// 75, which would invite a second send.
func sendmailStatus(outcomes []copyOutcome) (status int, removeQueued bool) {
	var accepted, temporary, refused, uncertain, setup int
	for _, o := range outcomes {
		switch o {
		case copyAccepted:
			accepted++
		case copyTemporary:
			temporary++
		case copyRefused:
			refused++
		case copySetupFailed:
			setup++
		default:
			uncertain++
		}
	}
	switch {
	case accepted == len(outcomes):
		return 0, false
	case accepted > 0 || uncertain > 0:
		return exitIOErr, false
	case refused > 0:
		// A second send of the same message meets the same refusal.
		return exitUnavailable, true
	case setup > 0:
		// The settings must change before the message can go.
		return exitConfig, true
	}
	return exitTempFail, true
}
