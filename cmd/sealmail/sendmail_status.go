package main

import (
	"errors"

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
	exitConfig      = 78 // EX_CONFIG: invalid config.toml, home, keyring or sender key
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
	// help (a 4xx reply, throttling, a failed connection, or no attempt).
	copyTemporary
	// copyRefused: the transport refused the copy, and a retry of the same
	// bytes cannot help.
	copyRefused
	// copyUncertain: the transport may have accepted the copy, so sending
	// it again may deliver it twice.
	copyUncertain
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
	case spool.StatePending:
		return copyTemporary
	case spool.StateFailed:
		var sesErr *ses.SendError
		var smtpErr *smtp.SendError
		switch {
		case errors.As(sendErr, &sesErr):
			if sesErr.Uncertain {
				return copyUncertain
			}
			return copyRefused
		case errors.As(sendErr, &smtpErr):
			if smtpErr.Uncertain {
				return copyUncertain
			}
			return copyRefused
		}
	}
	// A failure the transports do not classify, an entry another process is
	// sending, or a record that cannot be read: it may have gone out.
	return copyUncertain
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
	var accepted, temporary, refused, uncertain int
	for _, o := range outcomes {
		switch o {
		case copyAccepted:
			accepted++
		case copyTemporary:
			temporary++
		case copyRefused:
			refused++
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
	}
	return exitTempFail, true
}
