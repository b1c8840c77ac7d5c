package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/spool"
)

// eachFlags are the flags of send --each.
type eachFlags struct {
	file   onceFlag
	format onceFlag
	column onceFlag
	json   bool
}

func (f *eachFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.file, "each", "send each recipient listed in `FILE` a copy of its own, encrypted to that recipient (and you) only: one address a line, or CSV with an email or address column")
	fs.Var(&f.format, "each-format", "the `format` of the --each file: lines or csv (default: csv for a file ending in .csv, else lines)")
	fs.Var(&f.column, "each-column", "the CSV column `name` of the addresses (default: the column named email or address)")
	fs.BoolVar(&f.json, "json", false, "with --each, print the result for each recipient as a JSON array")
}

// check rejects flags that cannot go with --each, or that need it, before
// the file is read.
func (f *eachFlags) check(mf *messageFlags) error {
	if !f.file.set {
		if f.format.set || f.column.set || f.json {
			return usagef("--each-format, --each-column and --json need --each FILE")
		}
		return nil
	}
	if len(mf.to)+len(mf.cc)+len(mf.bcc) > 0 {
		return usagef("--each sends each recipient in %s a copy of its own, so --to, --cc and --bcc cannot be used with it", f.file.value)
	}
	switch recipientFormat(f.format.value) {
	case "", formatLines, formatCSV:
	default:
		return usagef("unknown --each-format %q: use lines or csv", f.format.value)
	}
	if f.column.set && recipientFormat(f.format.value) == formatLines {
		return usagef("--each-column needs a CSV file: drop it, or give --each-format csv")
	}
	return nil
}

// eachResult is the outcome for one recipient of send --each.
type eachResult struct {
	Recipient string `json:"recipient"`
	// Line is the line of the file that names the recipient.
	Line int `json:"line"`
	// Status is "sent" (accepted by the transport), "written" (to the
	// outbox), "queued" (in the queue, which queue flush sends) or
	// "failed" (in the queue, waiting for queue retry ID).
	Status string `json:"status"`
	// MessageID is the ID the transport assigned: the SES message ID or the
	// SMTP queue ID, or the file name in the outbox.
	MessageID string `json:"message_id,omitempty"`
	// QueueID is the ID of the queue entry of a copy that was not sent.
	QueueID string `json:"queue_id,omitempty"`
	Error   string `json:"error,omitempty"`
	// Note explains a status without an error, such as a copy that
	// another sealmail process sent, whose message ID is in its output.
	Note string `json:"note,omitempty"`

	// err is the error of sendEntry for the copy, nil when it was sent.
	err error
	// elsewhere is set for a copy that another sealmail process was still
	// sending when this run ended.
	elsewhere bool
}

// sentElsewhere is the note of a copy that another sealmail process sent,
// such as a queue flush that ran beside send --each.
const sentElsewhere = "sent by another sealmail process, whose output has the message ID"

// sendEach implements send --each: one copy per recipient of the file,
// each encrypted to that recipient and the sender only.
func (a *app) sendEach(ctx context.Context, mf *messageFlags, sf *sendFlags, ef *eachFlags) error {
	name := ef.file.value
	list, err := readRecipients(name, recipientFormat(ef.format.value), ef.column.value)
	if err != nil {
		return err
	}
	a.reportDuplicates(name, list.duplicates)
	m, err := eachMessage(mf, list.recipients[0])
	if err != nil {
		return err
	}
	h, err := a.openHome()
	if err != nil {
		return err
	}
	t, via, err := a.transport(ctx, h, sf)
	if err != nil {
		return err
	}
	ec, err := a.newEachComposer(ctx, h, m, mf, name, list.recipients)
	if err != nil {
		return err
	}

	// The copies are written and sent by many goroutines at once.
	terminal := isTerminal(a.stderr)
	defer a.lockOutput()()

	var results []eachResult
	if via == "outbox" {
		results, err = a.eachToOutbox(ctx, ec, t, list.recipients, terminal)
	} else {
		results, err = a.eachSpooled(ctx, h, ec, t, via, sf, list.recipients, terminal)
	}
	if err != nil {
		return err
	}
	if err := a.printEachResults(results, ef.json); err != nil {
		return err
	}
	return a.eachSummary(ctx, results, via == "outbox")
}

// eachMessage returns the message that the flags describe, without
// recipients: each copy gets its own To.
func eachMessage(mf *messageFlags, first eachRecipient) (*compose.Message, error) {
	// The message flags require a recipient, so the checks run with the
	// first one of the file.
	flags := *mf
	flags.to = listFlag{first.address.Address}
	m, err := flags.message(nil)
	if err != nil {
		return nil, err
	}
	m.To = nil
	return m, nil
}

// reportDuplicates prints the addresses that the file listed more than once
// and that get one copy all the same.
func (a *app) reportDuplicates(name string, duplicates []duplicateRecipient) {
	if len(duplicates) == 0 {
		return
	}
	lines := make([]string, len(duplicates))
	for i, d := range duplicates {
		lines[i] = fmt.Sprintf("line %d: %s, listed on line %d already", d.line, d.address, d.firstLine)
	}
	a.progress("%s lists %d %s twice; each gets one copy:\n  %s", name, len(duplicates),
		plural(len(duplicates), "address", "addresses"), strings.Join(capList(lines, maxListedProblems), "\n  "))
}

// buildCopy composes and protects the copy for one recipient into buf, and
// returns its envelope.
func buildCopy(ctx context.Context, ec *eachComposer, r eachRecipient, buf *bytes.Buffer) (transport.Envelope, error) {
	c, err := ec.compose(ctx, r.address)
	if err != nil {
		return transport.Envelope{}, fmt.Errorf("failed to compose the copy for %s (line %d): %w", r.address.Address, r.line, err)
	}
	buf.Reset()
	if err := c.WriteCopy(ctx, buf, 0); err != nil {
		return transport.Envelope{}, fmt.Errorf("failed to write the copy for %s (line %d): %w", r.address.Address, r.line, err)
	}
	return c.Copies()[0].Envelope, nil
}

// copyBuffers reuses the buffers that the copies are written to.
var copyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// eachSpooled writes every copy into the spool as one held batch, on every
// core, and releases the batch only once all are there, so that a crash
// before leaves nothing to send. Then it sends them, paced, with a bounded
// number of requests in flight.
func (a *app) eachSpooled(ctx context.Context, h *home, ec *eachComposer, t transport.Transport, via string, sf *sendFlags, list []eachRecipient, terminal bool) ([]eachResult, error) {
	sp, err := h.spool()
	if err != nil {
		return nil, err
	}
	batch, err := sp.NewBatch()
	if err != nil {
		return nil, err
	}
	meta := spool.Meta{Transport: via, Options: recordedFlags(sf)}
	ids := make([]string, len(list))

	built := newProgressMeter(a.stderr, terminal, "protecting", len(list))
	err = forEachIndex(ctx, len(list), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		buf := copyBuffers.Get().(*bytes.Buffer)
		defer copyBuffers.Put(buf)
		env, err := buildCopy(ctx, ec, list[i], buf)
		if err != nil {
			return err
		}
		if err := ses.Check(env, buf.Bytes()); err != nil {
			return fmt.Errorf("the copy for %s (line %d) cannot go through SES: %w", list[i].address.Address, list[i].line, err)
		}
		e, err := batch.Add(env, bytes.NewReader(buf.Bytes()), meta)
		if err != nil {
			return fmt.Errorf("failed to queue the copy for %s (line %d): %w", list[i].address.Address, list[i].line, err)
		}
		ids[i] = e.ID
		built.add(1)
		return nil
	})
	built.finish()
	if err == nil {
		err = batch.Release()
	}
	if err != nil {
		batch.Discard()
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("nothing was sent, because %w", err)
	}

	a.warnPacing(ctx, t, len(list))
	results := make([]eachResult, len(list))
	for i, r := range list {
		results[i] = eachResult{Recipient: r.address.Address, Line: r.line, Status: "queued", QueueID: ids[i]}
	}
	st := &spooledTransport{transport: t, via: via, keepSent: !sf.noSentCopy}
	transportFor := func(spool.Entry) (*spooledTransport, error) { return st, nil }
	sent := newProgressMeter(a.stderr, terminal, "sending", len(list))
	a.sendEntries(ctx, h, sp, ids, sendersFor(transportRate(ctx, t)), transportFor, func(i int, e spool.Entry, err error) {
		results[i] = entryResult(results[i], e, err)
		sent.add(1)
	})
	sent.finish()
	if err := recheckBusy(sp, results); err != nil {
		a.progress("warning: failed to look up the copies that another sealmail process was sending: %v", err)
	}
	sp.RemoveFinishedBatch(batch.ID())
	return results, nil
}

// entryResult fills in r from the outcome of sendEntry for its entry.
func entryResult(r eachResult, e spool.Entry, err error) eachResult {
	r.err = err
	var notTried *notTriedError
	switch {
	case err == nil:
		r.Status, r.MessageID, r.QueueID = "sent", e.MessageID, ""
	case errors.Is(err, spool.ErrNotFound):
		r.Status, r.QueueID, r.Note = "sent", "", sentElsewhere
	case errors.Is(err, spool.ErrBusy):
		r.Error = "another sealmail process is sending it"
	case errors.As(err, &notTried):
		// The queue entry is listed beside it, and the summary explains
		// why it was not tried and how to send it.
		r.Error = notTried.Error()
	case e.State == spool.StateAccepted:
		// The transport accepted the copy, but keeping the sent copy or
		// removing the entry failed.
		r.Status, r.MessageID, r.Error = "sent", e.MessageID, err.Error()
	case e.State == spool.StateFailed:
		r.Status, r.Error = "failed", err.Error()
	case errors.Is(err, context.Canceled) && e.State == spool.StatePending:
		// Stopped by a signal before the request left, so the error adds
		// nothing to the summary.
	default:
		r.Error = err.Error()
	}
	return r
}

// recheckBusy looks up again, once the run is over, the copies that another
// sealmail process held when this run came to them, such as a queue flush
// running beside send --each. A copy gone from the queue was sent by that
// process, and one it accepted or failed has that status. A copy it is
// still sending is marked elsewhere, and one it left pending stays queued.
func recheckBusy(sp *spool.Spool, results []eachResult) error {
	var busy []int
	for i, r := range results {
		if errors.Is(r.err, spool.ErrBusy) {
			busy = append(busy, i)
		}
	}
	if len(busy) == 0 {
		return nil
	}
	entries, err := sp.List()
	if err != nil {
		return err
	}
	byID := make(map[string]spool.Entry, len(entries))
	for _, e := range entries {
		byID[e.ID] = e
	}

	for _, i := range busy {
		r := &results[i]
		e, queued := byID[r.QueueID]
		switch {
		case !queued:
			r.Status, r.QueueID, r.Error, r.Note = "sent", "", "", sentElsewhere
		case e.State == spool.StateAccepted:
			r.Status, r.MessageID, r.Error, r.Note = "sent", e.MessageID, "", "sent by another sealmail process"
		case e.State == spool.StateSending || e.State == spool.StateSubmitted:
			r.Error, r.elsewhere = "another sealmail process is still sending it", true
		case e.State == spool.StateFailed || e.State == spool.StateUnconfirmed:
			r.Status, r.Error = "failed", fmt.Sprintf("another sealmail process sent it and left it %s: %s", e.State, e.LastError)
		default:
			r.Error = fmt.Sprintf("another sealmail process tried it and left it %s: %s", e.State, e.LastError)
		}
	}
	return nil
}

// eachToOutbox writes every copy to the outbox, on every core.
func (a *app) eachToOutbox(ctx context.Context, ec *eachComposer, t transport.Transport, list []eachRecipient, terminal bool) ([]eachResult, error) {
	results := make([]eachResult, len(list))
	written := newProgressMeter(a.stderr, terminal, "writing", len(list))
	err := forEachIndex(ctx, len(list), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		r := list[i]
		results[i] = eachResult{Recipient: r.address.Address, Line: r.line, Status: "failed"}
		buf := copyBuffers.Get().(*bytes.Buffer)
		defer copyBuffers.Put(buf)

		env, err := buildCopy(ctx, ec, r, buf)
		if err == nil {
			results[i].MessageID, err = t.Send(ctx, env, bytes.NewReader(buf.Bytes()))
		}
		if err != nil {
			results[i].Error = err.Error()
		} else {
			results[i].Status = "written"
		}
		written.add(1)
		return nil
	})
	written.finish()
	if err != nil {
		return nil, err
	}
	return results, nil
}

// printEachResults prints one line per recipient, tab-separated: the
// address, the status, and the message ID or the queue entry and error.
// With asJSON it prints the results as a JSON array instead.
func (a *app) printEachResults(results []eachResult, asJSON bool) error {
	if asJSON {
		out, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", out)
		return nil
	}
	for _, r := range results {
		var detail []string
		if r.MessageID != "" {
			detail = append(detail, r.MessageID)
		}
		if r.QueueID != "" {
			detail = append(detail, "entry "+r.QueueID)
		}
		if r.Error != "" {
			detail = append(detail, oneLine(r.Error))
		}
		if r.Note != "" {
			detail = append(detail, r.Note)
		}
		fmt.Fprintf(a.stdout, "%s\t%s\t%s\n", r.Recipient, r.Status, strings.Join(detail, ": "))
	}
	return nil
}

// eachSummary prints the counts and what to do about the copies not sent,
// and returns an error unless every copy was accepted.
func (a *app) eachSummary(ctx context.Context, results []eachResult, outbox bool) error {
	counts := map[string]int{}
	var problems, elsewhere, byOthers, flushable int
	errs := make([]error, len(results))
	for i, r := range results {
		counts[r.Status]++
		errs[i] = r.err
		switch {
		case r.Error != "":
			problems++
		case r.Note != "":
			byOthers++
		}
		if r.elsewhere {
			elsewhere++
		} else if r.Status == "queued" {
			flushable++
		}
	}
	done := counts["sent"] + counts["written"]
	switch {
	case outbox:
		a.progress("%d of %d copies written to the outbox, %d failed", done, len(results), counts["failed"])
	case byOthers > 0:
		a.progress("%d of %d copies sent (%d of them by another sealmail process), %d failed, %d still queued", done, len(results), byOthers, counts["failed"], counts["queued"])
	default:
		a.progress("%d of %d copies sent, %d failed, %d still queued", done, len(results), counts["failed"], counts["queued"])
	}

	stopped := slices.ContainsFunc(errs, func(err error) bool {
		var notTried *notTriedError
		return errors.As(err, &notTried)
	})
	a.printHints(errs)
	switch {
	case stopped:
		a.printStops(errs)
	case flushable > 0:
		a.progress("run \"sealmail queue flush\" to send the %d queued %s, paced as this run was", flushable, plural(flushable, "copy", "copies"))
	}
	if elsewhere > 0 {
		a.progress("another sealmail process is still sending %d %s; \"sealmail queue list\" shows %s", elsewhere, plural(elsewhere, "copy", "copies"), plural(elsewhere, "it", "them"))
	}
	if counts["failed"] > 0 && !outbox {
		a.progress("\"sealmail queue list\" shows the %d failed %s; fix the cause, then \"sealmail queue retry ID\" sends one again, and transport flags given to it, such as --smtp-ca-file, replace the recorded ones", counts["failed"], plural(counts["failed"], "copy", "copies"))
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped before every copy was sent: %w", err)
	}
	if done < len(results) || problems > 0 {
		return errors.New("not every copy was sent: the output lists each recipient with its result")
	}
	return nil
}
