package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
	"github.com/sealmail/sealmail/transport/spool"
)

// spool returns the home's spool of copies waiting for a transport.
func (h *home) spool() (*spool.Spool, error) {
	return spool.Open(filepath.Join(h.dir, "spool"))
}

const queueUsage = `Usage: sealmail queue COMMAND [flags] [arguments]

Commands:
  list [--json]                  list the copies waiting for a transport, with their state
  flush [transport flags]        send every copy that is due; fails unless the queue is empty after
  retry [transport flags] ID...  send the named copies, failed and unconfirmed ones too
  remove --yes ID...             delete copies without sending them

A copy is sent with the transport flags recorded by the send that queued
it. The transport flags of send given to flush or retry (--region,
--profile, --endpoint-url, --configuration-set, --rate and the --smtp-*
flags) replace the recorded ones for that run.

Run "sealmail queue COMMAND --help" for the flags of a command.
`

func (a *app) queue(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, queueUsage)
		return usagef("queue: missing subcommand: use list, retry, flush or remove")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "list":
		return a.queueList(rest)
	case "retry":
		return a.queueRetry(ctx, rest)
	case "flush":
		return a.queueFlush(ctx, rest)
	case "remove":
		return a.queueRemove(rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(a.stdout, queueUsage)
		return nil
	default:
		return usagef("queue: unknown subcommand %q: use list, retry, flush or remove", sub)
	}
}

func (a *app) queueList(args []string) error {
	fs := a.newFlagSet("queue list", "queue list [--json]")
	asJSON := fs.Bool("json", false, "print the entries as a JSON array")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("queue list: unexpected argument %q", fs.Arg(0))
	}
	sp, err := a.openSpool()
	if err != nil {
		return err
	}
	entries, err := sp.List()
	if err != nil {
		return err
	}

	if *asJSON {
		if entries == nil {
			entries = []spool.Entry{}
		}
		out, err := json.MarshalIndent(entries, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", out)
		return nil
	}
	if len(entries) == 0 {
		fmt.Fprintln(a.stdout, "the queue is empty")
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tSTATE\tATTEMPTS\tVIA\tRECIPIENTS\tLAST ERROR")
	states := make(map[spool.State]bool)
	for _, e := range entries {
		states[e.State] = true
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.Created.Local().Format(time.DateTime), e.State,
			e.Attempts, e.Transport, strings.Join(e.Envelope.Recipients, ", "), oneLine(e.LastError))
	}
	if err := w.Flush(); err != nil {
		return err
	}

	for _, note := range stateNotes {
		if states[note.state] {
			fmt.Fprintf(a.stdout, "\n%s: %s\n", note.state, note.text)
		}
	}
	return nil
}

// stateNotes explain the states of entries that queue flush does not send,
// or sends although an earlier attempt failed.
var stateNotes = []struct {
	state spool.State
	text  string
}{
	{spool.StateHeld, "a send --each run that is still storing its copies; none is sent before it has stored them all."},
	{spool.StateSending, "a sealmail process is sending it now, before the message data is complete."},
	{spool.StateSubmitted, "a sealmail process has sent the message data and waits for the transport's reply."},
	{spool.StateInterrupted, "sealmail stopped while it was sending, before the message data was complete, so the transport cannot have accepted it. \"sealmail queue flush\" sends it."},
	{spool.StateUnconfirmed, "sealmail stopped after the message data went to the transport and before the transport's reply, so the recipients may have the message already. \"sealmail queue flush\" leaves it alone: check with the recipients, then \"sealmail queue retry ID\" sends it again, or \"sealmail queue remove --yes ID\" drops it."},
	{spool.StateFailed, "the transport rejected the message, or may have accepted it (see LAST ERROR). \"sealmail queue flush\" leaves it alone: fix the cause, then \"sealmail queue retry ID\" sends it again, or \"sealmail queue remove --yes ID\" drops it."},
	{spool.StateAccepted, "the transport accepted the message, and sealmail stopped before it kept the sent copy. \"sealmail queue flush\" keeps the copy without sending the message again."},
}

// oneLine replaces line breaks, so that an error stays on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (a *app) queueRetry(ctx context.Context, args []string) error {
	fs := a.newFlagSet("queue retry", "queue retry [transport flags] ID...")
	var overrides transportOverrides
	overrides.register(fs)
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	ids := fs.Args()
	if len(ids) == 0 {
		return usagef("queue retry: missing entry ID: name the entries to send (\"sealmail queue list\" shows them), or run \"sealmail queue flush\" to send every entry that is due")
	}
	return a.retryEntries(ctx, ids, overrides.options())
}

// queueFlush retries every entry that is due and fails unless the queue is
// empty afterwards.
func (a *app) queueFlush(ctx context.Context, args []string) error {
	fs := a.newFlagSet("queue flush", "queue flush [transport flags]")
	var overrides transportOverrides
	overrides.register(fs)
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("queue flush: unexpected argument %q: use queue retry to name entries", fs.Arg(0))
	}
	retryErr := a.retryEntries(ctx, nil, overrides.options())

	sp, err := a.openSpool()
	if err != nil {
		return err
	}
	left, err := sp.List()
	if err != nil {
		return err
	}
	if len(left) > 0 {
		if retryErr != nil {
			fmt.Fprintf(a.stderr, "sealmail: %v\n", retryErr)
		}
		return fmt.Errorf("%d message(s) still in the queue: run \"sealmail queue list\" to see why", len(left))
	}
	return retryErr
}

// retryEntries sends the entries named by ids, in any state but damaged, or
// with no ids every entry that is due (pending, interrupted or accepted).
// Named entries that may have been accepted already (unconfirmed) are sent
// with a warning. The transport flags in overrides replace those recorded
// with each entry whose transport uses them.
// It sends them as send --each does: paced to the rate of each entry's
// transport, with several requests in flight. An entry another process is
// sending is skipped, and not counted as failed.
func (a *app) retryEntries(ctx context.Context, ids []string, overrides map[string][]string) error {
	h, err := a.openHome()
	if err != nil {
		return err
	}
	sp, err := h.spool()
	if err != nil {
		return err
	}
	entries, err := a.entriesToRetry(sp, ids)
	if err != nil {
		return err
	}
	if err := checkOverrides(overrides, entries); err != nil {
		return err
	}

	// The transports are built before the first send, one for each set of
	// recorded options, so that the senders share its pacing.
	transports := make(map[string]*spooledTransport)
	var transportsMu sync.Mutex
	transportFor := func(e spool.Entry) (*spooledTransport, error) {
		transportsMu.Lock()
		defer transportsMu.Unlock()
		return a.transportForEntry(ctx, h, e, overrides, transports)
	}
	senders := 1
	entryIDs := make([]string, len(entries))
	for i, e := range entries {
		entryIDs[i] = e.ID
		if st, err := transportFor(e); err == nil {
			senders = max(senders, sendersFor(transportRate(ctx, st.transport)))
		}
		if e.State == spool.StateUnconfirmed {
			a.progress("warning: entry %s may have been accepted already: sealmail stopped after the message data went to %s and before its reply; if %s accepted it then, the recipients receive it twice", e.ID, e.Transport, e.Transport)
		}
	}

	terminal := isTerminal(a.stderr)
	defer a.lockOutput()()
	var progress *progressMeter
	if len(entries) > 1 {
		progress = newProgressMeter(a.stderr, terminal, "sending", len(entries))
	}
	var failed, notTried int
	var failedMu sync.Mutex
	errs := make([]error, len(entries))
	a.sendEntries(ctx, h, sp, entryIDs, senders, transportFor, func(i int, sent spool.Entry, err error) {
		e := entries[i]
		errs[i] = err
		var stop *notTriedError
		switch {
		case errors.As(err, &stop):
			// printStops reports these entries together.
			failedMu.Lock()
			notTried++
			failedMu.Unlock()
		case errors.Is(err, spool.ErrBusy):
			a.progress("skipped entry %s: another sealmail process is sending it", e.ID)
		case errors.Is(err, spool.ErrNotFound):
			a.progress("skipped entry %s: another sealmail process sent it", e.ID)
		case err != nil:
			failedMu.Lock()
			failed++
			failedMu.Unlock()
			fmt.Fprintf(a.stderr, "sealmail: entry %s to %s: %v\n", e.ID, strings.Join(e.Envelope.Recipients, ", "), err)
		case e.State == spool.StateAccepted:
			// The transport accepted it before; only the sent copy was missing.
			fmt.Fprintf(a.stdout, "kept the sent copy of entry %s to %s, which %s accepted before: message ID %s\n", sent.ID,
				strings.Join(sent.Envelope.Recipients, ", "), sent.Transport, sent.MessageID)
		default:
			fmt.Fprintf(a.stdout, "sent entry %s to %s via %s: message ID %s\n", sent.ID,
				strings.Join(sent.Envelope.Recipients, ", "), sent.Transport, sent.MessageID)
		}
		if progress != nil {
			progress.add(1)
		}
	})
	if progress != nil {
		progress.finish()
	}
	a.printHints(errs)
	a.printStops(errs)

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped before every entry was sent, and the others stay in the queue: %w", err)
	}
	if failed+notTried > 0 {
		return fmt.Errorf("failed to send %d of %d queued message(s): run \"sealmail queue list\" to see their state", failed+notTried, len(entries))
	}
	return nil
}

// entriesToRetry returns the entries named by ids, or every entry that is
// due when there are none.
func (a *app) entriesToRetry(sp *spool.Spool, ids []string) ([]spool.Entry, error) {
	if len(ids) == 0 {
		all, err := sp.List()
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(all, func(e spool.Entry) bool { return !e.Due() }), nil
	}

	var entries []spool.Entry
	for _, id := range ids {
		e, err := sp.Get(id)
		if err != nil {
			return nil, fmt.Errorf("%w: run \"sealmail queue list\" for the IDs", err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// sendEntry claims the entry, sends it through the transport transportFor
// returns unless it was accepted before, keeps the sent copy and only then
// removes the entry. An entry that stays is reported in the error.
func (a *app) sendEntry(ctx context.Context, h *home, sp *spool.Spool, id string, transportFor func(spool.Entry) (*spooledTransport, error)) (spool.Entry, error) {
	c, err := sp.Claim(id)
	if err != nil {
		return spool.Entry{}, err
	}
	defer c.Release()

	st, err := transportFor(c.Entry())
	if err != nil {
		return c.Entry(), err
	}
	first, err := st.begin(ctx)
	if err != nil {
		e := c.Entry()
		return e, &queuedError{err: err, entry: e}
	}
	err = c.Send(ctx, st.transport)
	st.end(ctx, first, err)
	if err != nil {
		e := c.Entry()
		return e, &queuedError{err: err, entry: e}
	}

	e := c.Entry()
	if st.keepSent {
		if err := keepSpooledCopy(h, c, st.via); err != nil {
			return e, fmt.Errorf("accepted with message ID %s, but %w. The entry %s stays in the queue as accepted, and \"sealmail queue retry %s\" keeps the copy without sending it again", e.MessageID, err, e.ID, e.ID)
		}
	}
	if err := c.Remove(); err != nil {
		return e, fmt.Errorf("accepted with message ID %s, but %w. The entry will not be sent again, so remove it with \"sealmail queue remove --yes %s\"", e.MessageID, err, e.ID)
	}
	return e, nil
}

// queuedError is the error of a copy that stays in the queue. Its text
// names the queue entry, its state and the command that handles it next,
// so that a caller that reports the copy adds nothing about the entry.
type queuedError struct {
	err   error
	entry spool.Entry
}

func (e *queuedError) Error() string {
	state := describeState(e.entry)
	if e.entry.State == spool.StatePending && transport.SetupFailed(e.err) {
		state = "pending: fix the cause, then \"sealmail queue flush\" sends it again; transport flags given to it, such as --smtp-ca-file, replace the recorded ones"
	}
	return fmt.Sprintf("%v (kept in the queue as %s, %s)", e.err, e.entry.ID, state)
}

// Unwrap returns the error of the send.
func (e *queuedError) Unwrap() error { return e.err }

// describeState returns the state of an entry that stays in the queue and
// the command that handles it next.
func describeState(e spool.Entry) string {
	switch e.State {
	case spool.StatePending:
		return "pending: \"sealmail queue flush\" sends it again"
	case spool.StateSending, spool.StateInterrupted:
		// A record left in state sending reads as interrupted once this
		// process releases the entry.
		return "interrupted: \"sealmail queue flush\" sends it again"
	case spool.StateSubmitted, spool.StateUnconfirmed:
		return "unconfirmed: the transport may have accepted it, so check with the recipients, then \"sealmail queue retry " + e.ID + "\" sends it again, or \"sealmail queue remove --yes " + e.ID + "\" drops it"
	case spool.StateFailed:
		return "failed: fix the cause, then \"sealmail queue retry " + e.ID + "\" sends it again, or \"sealmail queue remove --yes " + e.ID + "\" drops it; transport flags given to queue retry, such as --smtp-ca-file, replace the recorded ones"
	default:
		return string(e.State)
	}
}

// keepSpooledCopy stores the bytes of the claimed entry in the sent Maildir
// with the message ID the transport assigned.
func keepSpooledCopy(h *home, c *spool.Claim, via string) error {
	sent, err := h.sent()
	if err != nil {
		return fmt.Errorf("failed to keep the sent copy: %w", err)
	}
	e := c.Entry()
	rec := maildir.Record{Envelope: e.Envelope, Via: via, MessageID: e.MessageID}
	if _, err := sent.Deliver(c.Message(), rec); err != nil {
		return fmt.Errorf("failed to keep the sent copy: %w", err)
	}
	return nil
}

// transportForEntry builds the transport recorded with e through
// app.transport, as send builds it, and caches it by its options. The flags
// in overrides that apply to its transport replace the recorded ones.
func (a *app) transportForEntry(ctx context.Context, h *home, e spool.Entry, overrides map[string][]string, cache map[string]*spooledTransport) (*spooledTransport, error) {
	options := applyOverrides(e.Transport, e.Options, overrides)
	key, err := json.Marshal([]any{e.Transport, options})
	if err != nil {
		return nil, err
	}
	if st, ok := cache[string(key)]; ok {
		return st, nil
	}

	sf, err := parseRecordedFlags(options)
	if err != nil {
		if len(overrides) > 0 {
			return nil, fmt.Errorf("invalid transport flags for entry %s, recorded with it or given now: %w", e.ID, err)
		}
		return nil, fmt.Errorf("invalid transport options recorded with entry %s: %w", e.ID, err)
	}
	if sf.way() != e.Transport {
		return nil, fmt.Errorf("invalid transport options recorded with entry %s: they name %q, not %q", e.ID, sf.way(), e.Transport)
	}
	t, via, err := a.transport(ctx, h, sf)
	if err != nil {
		return nil, err
	}
	st := &spooledTransport{transport: t, via: via, keepSent: !sf.noSentCopy}
	cache[string(key)] = st
	return st, nil
}

// recordedFlags returns the transport flags of send that were given, by
// name, to be recorded with a spooled copy. None of them contains a secret,
// because credentials come from the environment or files, never from flags.
func recordedFlags(sf *sendFlags) map[string][]string {
	var defaults sendFlags
	defaultSet := flag.NewFlagSet("defaults", flag.ContinueOnError)
	defaults.register(defaultSet)

	// Registering sf again binds the flags of the set to its fields, but
	// BoolVar also resets each bool field to its default, so sf is restored.
	saved := *sf
	current := flag.NewFlagSet("current", flag.ContinueOnError)
	sf.register(current)
	*sf = saved

	options := make(map[string][]string)
	current.VisitAll(func(f *flag.Flag) {
		if list, ok := f.Value.(*listFlag); ok {
			if len(*list) > 0 {
				options[f.Name] = slices.Clone(*list)
			}
			return
		}
		value := f.Value.String()
		if value == defaultSet.Lookup(f.Name).DefValue {
			return
		}
		// A retry may run in another folder, so a relative FILE is
		// recorded as an absolute path.
		if placeholder, _ := flag.UnquoteUsage(f); placeholder == "FILE" {
			if abs, err := filepath.Abs(value); err == nil {
				value = abs
			}
		}
		options[f.Name] = []string{value}
	})
	// The transport is named even when it is the default.
	options["via"] = []string{sf.way()}
	return options
}

// overridableFlags are the transport flags of send that queue retry and
// queue flush take, each with the transports that use it. The others (--via,
// --tag, --no-sent-copy) describe the message sent, so they stay as
// recorded.
var overridableFlags = map[string][]string{
	"region":             {"ses", "smtp"},
	"rate":               {"ses", "smtp"},
	"profile":            {"ses"},
	"endpoint-url":       {"ses"},
	"configuration-set":  {"ses"},
	"smtp-host":          {"smtp"},
	"smtp-port":          {"smtp"},
	"smtp-tls":           {"smtp"},
	"smtp-user":          {"smtp"},
	"smtp-password-file": {"smtp"},
	"smtp-ca-file":       {"smtp"},
}

// transportOverrides are the transport flags given to queue retry or queue
// flush, which replace the ones recorded with each entry for that run.
type transportOverrides struct {
	flags sendFlags
}

// register adds the flags of overridableFlags to fs, with the usage text of
// send.
func (o *transportOverrides) register(fs *flag.FlagSet) {
	all := flag.NewFlagSet("send", flag.ContinueOnError)
	o.flags.register(all)
	for _, name := range slices.Sorted(maps.Keys(overridableFlags)) {
		f := all.Lookup(name)
		fs.Var(f.Value, name, f.Usage+"; replaces the value recorded with each entry")
	}
}

// options returns the flags that were given, by name, as recordedFlags
// returns them: a FILE as an absolute path.
func (o *transportOverrides) options() map[string][]string {
	options := recordedFlags(&o.flags)
	delete(options, "via")
	return options
}

// checkOverrides rejects a flag in overrides that no entry to send uses, so
// that a flag meant for another transport is not silently ignored.
func checkOverrides(overrides map[string][]string, entries []spool.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		transports := overridableFlags[name]
		used := slices.ContainsFunc(entries, func(e spool.Entry) bool { return slices.Contains(transports, e.Transport) })
		if !used {
			return usagef("--%s applies to entries sent via %s, and none of the entries to send is", name, strings.Join(transports, " or "))
		}
	}
	return nil
}

// applyOverrides returns the options recorded with an entry sent via
// transport, with the flags of overrides that it uses in place of the
// recorded ones.
func applyOverrides(transport string, recorded, overrides map[string][]string) map[string][]string {
	options := maps.Clone(recorded)
	for name, values := range overrides {
		if !slices.Contains(overridableFlags[name], transport) {
			continue
		}
		if options == nil {
			options = make(map[string][]string)
		}
		options[name] = values
	}
	return options
}

// parseRecordedFlags turns the options recordedFlags returned back into
// send's transport flags, checked as send checks them.
func parseRecordedFlags(options map[string][]string) (*sendFlags, error) {
	var args []string
	for _, name := range slices.Sorted(maps.Keys(options)) {
		for _, value := range options[name] {
			args = append(args, "--"+name+"="+value)
		}
	}

	var sf sendFlags
	fs := flag.NewFlagSet("recorded", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := sf.check(); err != nil {
		return nil, err
	}
	return &sf, nil
}

func (a *app) queueRemove(args []string) error {
	fs := a.newFlagSet("queue remove", "queue remove --yes ID...")
	yes := fs.Bool("yes", false, "confirm that the messages are deleted without being sent")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("queue remove: missing entry ID: run \"sealmail queue list\" for the IDs")
	}
	if !*yes {
		return usagef("queue remove deletes messages without sending them; add --yes to confirm")
	}
	sp, err := a.openSpool()
	if err != nil {
		return err
	}

	var failed int
	for _, id := range fs.Args() {
		if err := sp.Remove(id); err != nil {
			failed++
			fmt.Fprintf(a.stderr, "sealmail: failed to remove entry %s: %v\n", id, err)
			continue
		}
		fmt.Fprintf(a.stdout, "removed entry %s\n", id)
	}
	if failed > 0 {
		return fmt.Errorf("failed to remove %d of %d entries", failed, fs.NArg())
	}
	return nil
}

func (a *app) openSpool() (*spool.Spool, error) {
	h, err := a.openHome()
	if err != nil {
		return nil, err
	}
	return h.spool()
}

// sendSpooled adds every copy to the spool as one batch, released only once
// all are stored, and then sends them one after another as queue retry
// does. A process killed before the release leaves nothing to send, so the
// copies of a message go to all of its recipients or to none. A copy that
// fails stays in the queue, and its result names the queue entry.
func (a *app) sendSpooled(ctx context.Context, h *home, t transport.Transport, via string, sf *sendFlags, copies []compose.Copy, files []*os.File) ([]sendResult, error) {
	sp, err := h.spool()
	if err != nil {
		return nil, err
	}
	batch, ids, err := queueCopies(sp, spool.Meta{Transport: via, Options: recordedFlags(sf)}, copies, files)
	if err != nil {
		return nil, err
	}
	// Once every copy is sent, the record of the batch goes too.
	defer sp.RemoveFinishedBatch(batch)

	// A signal stops a copy at once until its message data is complete,
	// and then gives it inFlightGrace to get the transport's reply.
	sendCtx := transport.FinishInFlight(ctx, inFlightGrace)
	st := &spooledTransport{transport: t, via: via, keepSent: !sf.noSentCopy}
	transportFor := func(spool.Entry) (*spooledTransport, error) { return st, nil }
	results := make([]sendResult, len(copies))
	for i, cp := range copies {
		results[i] = sendResult{copy: cp}
		if err := ctx.Err(); err != nil {
			entry := spool.Entry{ID: ids[i], State: spool.StatePending}
			results[i].err = &queuedError{err: errors.New("not sent: interrupted"), entry: entry}
			continue
		}
		a.step("handing the %s to %s", describeCopy(cp), via)
		e, err := a.sendEntry(sendCtx, h, sp, ids[i], transportFor)
		switch {
		case errors.Is(err, spool.ErrBusy):
			// A queue flush running at the same time took the entry.
			fmt.Fprintf(a.stdout, "the %s is being sent by another sealmail process (queue entry %s)\n", describeCopy(cp), ids[i])
			continue
		case errors.Is(err, spool.ErrNotFound):
			fmt.Fprintf(a.stdout, "the %s was sent by another sealmail process (queue entry %s)\n", describeCopy(cp), ids[i])
			continue
		case err != nil:
			results[i].err = err
			if e.MessageID != "" {
				results[i].id = e.MessageID
			}
			continue
		}
		results[i].id = e.MessageID
		fmt.Fprintf(a.stdout, "sent the %s via %s: message ID %s\n", describeCopy(cp), via, e.MessageID)
	}
	return results, nil
}

// queueCopies adds the copies to the spool as one batch and releases it,
// and returns the batch ID and the entry IDs. On an error it removes what it
// added.
func queueCopies(sp *spool.Spool, meta spool.Meta, copies []compose.Copy, files []*os.File) (string, []string, error) {
	batch, err := sp.NewBatch()
	if err != nil {
		return "", nil, fmt.Errorf("nothing was sent, because the copies could not be queued: %w", err)
	}
	ids := make([]string, len(copies))
	for i, cp := range copies {
		if _, err := files[i].Seek(0, io.SeekStart); err != nil {
			batch.Discard()
			return "", nil, err
		}
		e, err := batch.Add(cp.Envelope, files[i], meta)
		if err != nil {
			batch.Discard()
			return "", nil, fmt.Errorf("nothing was sent, because the %s could not be queued: %w", describeCopy(cp), err)
		}
		ids[i] = e.ID
	}
	if err := batch.Release(); err != nil {
		batch.Discard()
		return "", nil, fmt.Errorf("nothing was sent, because the copies could not be queued: %w", err)
	}
	return batch.ID(), ids, nil
}
