package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/spool"
)

const sendmailSynopsis = "sendmail [-t] [-i] [-f ADDRESS] [RECIPIENT...] < MESSAGE"

// sendmail reads a complete message on standard input, protects it by the
// policy of config.toml and sends it with the configured transport, as a
// drop-in for sendmail(1). Its errors carry the exit status of sysexits.h
// that sendmail's callers expect.
func (a *app) sendmail(ctx context.Context, args []string) error {
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintf(a.stdout, "Usage: sealmail %s\n", sendmailSynopsis)
		fmt.Fprint(a.stdout, sendmailHelp)
		return flag.ErrHelp
	}
	opts, err := parseSendmailArgs(args)
	if err != nil {
		return exitWith(exitUsage, err)
	}

	settings, err := a.loadSendmailSettings()
	if err != nil {
		return exitWith(exitConfig, err)
	}
	m, envelopeSender, err := a.readSendmailMessage(ctx, opts, settings)
	if err != nil {
		return err
	}
	h, err := a.openHome()
	if err != nil {
		return exitWith(exitConfig, err)
	}
	t, via, err := a.transport(ctx, h, &settings.send)
	if err != nil {
		return exitWith(exitConfig, fmt.Errorf("invalid transport settings in %s: %w", configFileName, err))
	}
	composers, err := a.sendmailComposers(ctx, h, m, settings)
	if err != nil {
		return err
	}
	return a.deliver(ctx, h, composers, t, via, envelopeSender, opts.verbose, &settings.send)
}

const sendmailHelp = `
Reads a complete message on standard input, protects it with the settings
of config.toml in the home (scheme, policy, header_protection, autocrypt,
prefer_encrypt, attach_key) and sends it through the transport that
config.toml sets (via, [ses], [smtp]), as a drop-in for sendmail.

  -t          take the recipients from To, Cc and Bcc, besides the arguments
  -f ADDRESS  the envelope sender, and the From address when the message has none
  -i, -oi     accepted; a line of a single "." never ends the message
  -v          report each copy on standard error

Other sendmail options (-F NAME, -oem, -odi, -B 8BITMIME, -N ...) are
accepted and ignored. Exit status: 0 sent; 64 usage, or no recipient
argument without -t; 65 invalid or empty message, or none of To, Cc, Bcc
and the arguments names a recipient under -t; 67 recipient without a key;
69 refused; 74 partly or maybe sent, do not send again; 75 not sent, try
again later; 78 configuration or key, or a session with the server that
the settings cannot set up; 130 or 143 stopped by SIGINT or SIGTERM.
`

// sendmailSettings are the parts of config.toml that sendmail uses.
type sendmailSettings struct {
	message messageFlags
	send    sendFlags
	policy  string
}

// loadSendmailSettings reads config.toml into the flags that compose and
// send use, so that sendmail builds its keys and transport as they do.
func (a *app) loadSendmailSettings() (*sendmailSettings, error) {
	dir, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	c, err := loadConfig(dir)
	if err != nil {
		return nil, err
	}
	s := &sendmailSettings{policy: c.Policy}
	if s.policy == "" {
		s.policy = "require-encryption"
	}
	if err := a.applyConfig(&s.message, &s.send); err != nil {
		return nil, err
	}
	if err := s.send.check(); err != nil {
		return nil, fmt.Errorf("invalid transport settings in %s: %w", configFileName, err)
	}
	return s, nil
}

// readSendmailMessage reads the message on standard input and sets its
// sender and envelope recipients from the options and the settings. It
// returns the envelope sender of -f, or "" for the From address.
func (a *app) readSendmailMessage(ctx context.Context, opts *sendmailOptions, s *sendmailSettings) (*compose.Message, string, error) {
	var envelopeSender string
	if opts.sender != "" {
		sender, err := singleAddress("-f", opts.sender)
		if err != nil {
			return nil, "", exitWith(exitUsage, err)
		}
		envelopeSender = sender.Address
	}
	// A signal ends the wait for input from a terminal or a stalled pipe.
	data, err := readInterruptibly(ctx, func() ([]byte, error) { return io.ReadAll(a.stdin) })
	if err != nil {
		// Nothing is queued yet, so the caller may send the message again.
		return nil, "", exitWith(exitTempFail, fmt.Errorf("failed to read the message on standard input, so nothing was sent: %w", err))
	}
	if isEmptyMessage(data) {
		return nil, "", exitWith(exitDataErr, errors.New("invalid message on standard input: it is empty, with no header field and no body; write the message, header first, on standard input"))
	}
	m, err := compose.ReadMessage(bytes.NewReader(data))
	var input *compose.InputError
	switch {
	case errors.As(err, &input):
		return nil, "", exitWith(exitDataErr, fmt.Errorf("invalid message on standard input: %w", err))
	case err != nil:
		return nil, "", exitWith(exitTempFail, fmt.Errorf("failed to read the message on standard input, so nothing was sent: %w", err))
	}

	if m.From == nil {
		if m.From, err = sendmailSender(opts, s); err != nil {
			return nil, "", err
		}
	}

	var recipients []string
	if opts.extractRecipients {
		for _, list := range [][]*mail.Address{m.To, m.Cc, m.Bcc} {
			for _, r := range list {
				recipients = append(recipients, r.Address)
			}
		}
	}
	for _, arg := range opts.recipients {
		list, err := compose.ParseAddressList(arg)
		if err != nil {
			return nil, "", exitWith(exitUsage, fmt.Errorf("invalid recipient argument %q: %w", arg, err))
		}
		for _, r := range list {
			recipients = append(recipients, r.Address)
		}
	}
	switch {
	case len(recipients) == 0 && opts.extractRecipients:
		return nil, "", exitWith(exitDataErr, errors.New("no recipients: the message has no To, Cc or Bcc address, and no recipient was given as an argument"))
	case len(recipients) == 0:
		return nil, "", exitWith(exitUsage, usagef("sendmail: no recipients: give them as arguments, or -t to take them from To, Cc and Bcc"))
	}
	m.Recipients = recipients

	if err := m.Validate(); err != nil {
		return nil, "", exitWith(exitDataErr, fmt.Errorf("invalid message on standard input: %w", err))
	}
	return m, envelopeSender, nil
}

// isEmptyMessage reports whether data holds neither a header field nor a
// body: only white space, after the "From " line of an mbox file that
// compose.ReadMessage skips.
func isEmptyMessage(data []byte) bool {
	if bytes.HasPrefix(data, []byte("From ")) {
		_, data, _ = bytes.Cut(data, []byte("\n"))
	}
	return len(bytes.TrimSpace(data)) == 0
}

// sendmailSender returns the From address of a message that has none: the
// address of -f, or else the from setting of config.toml.
func sendmailSender(opts *sendmailOptions, s *sendmailSettings) (*mail.Address, error) {
	if opts.sender != "" {
		a, err := singleAddress("-f", opts.sender)
		return a, exitWith(exitUsage, err)
	}
	if s.message.from.value != "" {
		a, err := singleAddress("from in "+configFileName, s.message.from.value)
		return a, exitWith(exitConfig, err)
	}
	return nil, exitWith(exitUsage, usagef("sendmail: the message has no From address with a domain: give -f ADDRESS, or set from in %s", configFileName))
}

// singleAddress parses value, named by what, as exactly one address.
func singleAddress(what, value string) (*mail.Address, error) {
	list, err := compose.ParseAddressList(value)
	if err != nil {
		return nil, fmt.Errorf("invalid %s %q: %w", what, value, err)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("invalid %s %q: give exactly one address", what, value)
	}
	return list[0], nil
}

// deliver writes every copy of the composers, queues and sends them as send
// does, and turns the outcome into the exit status that sendmail's callers
// expect.
func (a *app) deliver(ctx context.Context, h *home, composers []*compose.Composer, t transport.Transport, via, envelopeSender string, verbose bool, sf *sendFlags) error {
	h.removeStaleCopies()
	var copies []compose.Copy
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var hashes []string
	for _, c := range composers {
		for i, cp := range c.Copies() {
			if envelopeSender != "" {
				// -f sets the envelope sender (MAIL FROM), which bounces go to.
				cp.Envelope.From = envelopeSender
			}
			f, err := h.tempFile()
			if err != nil {
				return exitWith(exitTempFail, err)
			}
			files = append(files, f)
			sum := sha256.New()
			if err := c.WriteCopy(ctx, io.MultiWriter(f, sum), i); err != nil {
				return exitWith(exitTempFail, fmt.Errorf("failed to write the %s: %w", describeCopy(cp), err))
			}
			copies = append(copies, cp)
			hashes = append(hashes, hex.EncodeToString(sum.Sum(nil)))
		}
	}
	if err := checkCopies(t, copies, files); err != nil {
		return exitWith(exitDataErr, err)
	}

	// sendSpooled reports accepted copies on standard output, which
	// sendmail keeps quiet. With -v they go to standard error instead.
	defer a.lockOutput()()
	quiet := *a
	quiet.stdout = io.Discard
	if verbose {
		quiet.stdout = a.stderr
	}
	// sendSpooled lets a copy past the commit point get its reply after a
	// signal, so that its outcome is known and the caller learns whether
	// to send the message again.
	stopNotice := context.AfterFunc(ctx, func() {
		a.progress("interrupted: sending no more copies; a copy whose data has left gets up to %v for its reply", inFlightGrace)
	})
	results, err := quiet.sendSpooled(ctx, h, t, via, sf, copies, files)
	stopNotice()
	if err != nil {
		return exitWith(exitTempFail, err)
	}
	return a.sendmailOutcome(ctx, h, via, results, hashes)
}

// sendmailOutcome classifies each copy by its queue entry, removes the
// queued copies when the caller is to send the message again, and returns
// the error with the exit status, or nil when every copy was accepted.
// After a signal, the status is that of the signal, 130 or 143, as for the
// other commands.
func (a *app) sendmailOutcome(ctx context.Context, h *home, via string, results []sendResult, hashes []string) error {
	sp, err := h.spool()
	if err != nil {
		return exitWith(exitIOErr, fmt.Errorf("failed to read the queue after sending, so whether every copy was sent is unknown; do not send the message again, and run \"sealmail queue list\": %w", err))
	}
	entries, err := sp.List()
	if err != nil {
		return exitWith(exitIOErr, fmt.Errorf("failed to read the queue after sending, so whether every copy was sent is unknown; do not send the message again, and run \"sealmail queue list\": %w", err))
	}
	// Each copy is signed and encrypted anew, so its hash finds its entry.
	byHash := make(map[string]spool.Entry, len(entries))
	for _, e := range entries {
		byHash[e.SHA256] = e
	}

	outcomes := make([]copyOutcome, len(results))
	queued := make([]*spool.Entry, len(results))
	for i, r := range results {
		e, ok := byHash[hashes[i]]
		if ok {
			queued[i] = &e
		}
		outcomes[i] = classifyCopy(ok, e.State, r.err)
		if outcomes[i] == copyAccepted && r.err != nil {
			a.progress("warning: the %s was accepted, but %v", describeCopy(r.copy), r.err)
		}
	}

	status, remove := sendmailStatus(outcomes)
	if status == 0 {
		return nil
	}
	report := &sendmailReport{
		status:      status,
		via:         via,
		interrupted: ctx.Err() != nil,
		results:     results,
		outcomes:    outcomes,
		queued:      queued,
		removeErrs:  make([]error, len(results)),
	}
	if remove {
		if !removeQueued(sp, queued, report.removeErrs) {
			// The caller must not send the message again before the
			// entries are gone, or they are delivered twice.
			status = exitIOErr
		}
	}
	report.kept = !remove
	if sig, ok := signalStatus(ctx); ok {
		status = sig
	}
	return exitWith(status, errors.New(report.String()))
}

// removeQueued removes the queue entries of a message that was not sent,
// because its caller sends it again. It records the error of each entry
// that could not be removed in errs, by copy, and reports whether every
// entry was removed.
func removeQueued(sp *spool.Spool, queued []*spool.Entry, errs []error) bool {
	removed := true
	for i, e := range queued {
		if e == nil {
			continue
		}
		if err := sp.Remove(e.ID); err != nil {
			errs[i] = err
			removed = false
		}
	}
	return removed
}
