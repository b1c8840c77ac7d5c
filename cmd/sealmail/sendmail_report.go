package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/smtp"
	"github.com/sealmail/sealmail/transport/spool"
)

// sendmailReport is the outcome of a sendmail run in which some copy was not
// accepted: what happened to each copy and to its queue entry, and what the
// caller is to do with the message.
type sendmailReport struct {
	// status is the exit status that the outcomes give: 69, 74, 75 or 78.
	status int
	// via is the transport: "ses" or "smtp".
	via string
	// interrupted reports that a signal stopped the sending.
	interrupted bool
	results     []sendResult
	outcomes    []copyOutcome
	// queued holds, by copy, its queue entry as the send left it, or nil
	// when the entry is gone.
	queued []*spool.Entry
	// kept reports that the entries stay in the queue, because some copy
	// was accepted or may have been. Otherwise they were removed.
	kept bool
	// removeErrs holds, by copy, the error of removing its entry, or nil.
	removeErrs []error
}

// String returns the report: a first line that states whether the message
// may be sent again, and a line for each copy.
func (r *sendmailReport) String() string {
	var b strings.Builder
	b.WriteString(r.summary())

	var stillQueued []string
	for i, res := range r.results {
		if r.outcomes[i] == copyAccepted {
			line := "accepted:   " + describeCopy(res.copy)
			if res.id != "" {
				line += ", message ID " + res.id
			}
			b.WriteString("\n  " + line)
			continue
		}

		label := "not sent:   "
		if r.outcomes[i] == copyUncertain {
			label = "maybe sent: "
		}
		line := label + describeCopy(res.copy) + ": " + r.cause(i)
		switch e := r.queued[i]; {
		case e == nil:
		case r.removeErrs[i] != nil:
			line += fmt.Sprintf(" (still in the queue as %s, because removing it failed: %v)", e.ID, r.removeErrs[i])
			stillQueued = append(stillQueued, e.ID)
		case r.kept:
			line += fmt.Sprintf(" (kept in the queue as %s)", e.ID)
			stillQueued = append(stillQueued, e.ID)
		}
		b.WriteString("\n  " + line)
	}

	switch {
	case len(stillQueued) == 0:
	case r.kept:
		fmt.Fprintf(&b, "\nsend the copies kept in the queue with \"sealmail queue retry %s\" once the cause is fixed; for a copy that may have been sent, check with its recipients first", strings.Join(stillQueued, " "))
	default:
		fmt.Fprintf(&b, "\nremove them with \"sealmail queue remove --yes %s\" before sending the message again, or they are delivered twice", strings.Join(stillQueued, " "))
	}
	return b.String()
}

// summary returns the first line of the report, which agrees with what
// happened to the queue.
func (r *sendmailReport) summary() string {
	prefix := ""
	if r.interrupted {
		prefix = "interrupted: "
	}
	for _, err := range r.removeErrs {
		if err != nil {
			return prefix + "nothing was sent, but not every copy could be removed from the queue:"
		}
	}
	if r.kept {
		return prefix + "the message was sent in part, or may have been sent: do NOT send it again. The copies not sent stay in the queue:"
	}
	if r.interrupted {
		return prefix + "nothing was sent, and nothing is left in the queue, so send the message again:"
	}
	switch r.status {
	case exitUnavailable:
		return "the message was refused, so nothing was sent, and nothing is left in the queue:"
	case exitConfig:
		settings := "the settings in [smtp] of " + configFileName + " (host, port, tls, user, password_file, ca_file)"
		if r.via == "ses" {
			settings = "the settings in [ses] of " + configFileName + " (region, profile, endpoint_url, configuration_set) or the AWS credentials"
		}
		return "nothing was sent, because the session with the server could not be set up; fix " + settings + ", then send the message again. Nothing is left in the queue:"
	}
	return "nothing was sent, and a later attempt may succeed; nothing is left in the queue, so send the message again:"
}

// cause returns why copy i was not accepted, in the words of the transport,
// without the queue entry that sendEntry names in its errors, because the
// report states what became of the entry.
func (r *sendmailReport) cause(i int) string {
	err := r.results[i].err
	var queued *queuedError
	if errors.As(err, &queued) {
		err = queued.err
	}
	var smtpErr *smtp.SendError
	var sesErr *ses.SendError
	var cause string
	switch e := r.queued[i]; {
	case errors.As(err, &smtpErr):
		cause = describeSMTPError(smtpErr)
	case errors.As(err, &sesErr):
		cause = sesErr.Error()
	case e != nil && e.LastError != "":
		cause = e.LastError
	case r.interrupted && e != nil && e.State == spool.StatePending:
		return "not started, because sealmail was interrupted first"
	case err == nil:
		return "another sealmail process is sending it"
	default:
		cause = err.Error()
	}
	if hint := sendHint(err); hint != "" {
		cause += "; " + hint
	}
	return cause
}

// describeSMTPError returns the error of the SMTP transport as users read
// it. A 535 reply gets the SES hint in the words of the command line.
func describeSMTPError(e *smtp.SendError) string {
	if e.Command == "AUTH" && e.Reply.Code == 535 {
		return fmt.Sprintf("the SMTP server %s rejected the user name or password (%s); nothing was sent. For Amazon SES the user name is the access key ID, and the password is not the secret access key but one derived from it for the endpoint's region with \"sealmail smtp-password --region REGION\"", e.Addr, e.Reply)
	}
	return e.Error()
}

// sendHint returns what a user can do about a failed send, when the
// transport's error does not name it, or "".
func sendHint(err error) string {
	var smtpErr *smtp.SendError
	if !errors.As(err, &smtpErr) {
		return ""
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownAuthority):
		return "if the server's certificate is issued by a private CA, trust that CA with --smtp-ca-file FILE, or ca_file in [smtp] of " + configFileName
	case errors.As(err, &hostname):
		return "connect to a host name that the certificate names, with --smtp-host HOST or host in [smtp] of " + configFileName
	}
	return ""
}
