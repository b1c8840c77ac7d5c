// Package spool keeps messages that wait for a transport, so that a message
// is never lost between composing and sending, and never sent twice by two
// processes or by a retry after the transport accepted it.
//
// The common case is:
//
//	sp, err := spool.Open(dir)
//	...
//	entry, err := sp.Add(env, raw, spool.Meta{Transport: "ses"})
//	...
//	entry, err = sp.Send(ctx, entry.ID, t)
//
// # Files
//
// Each entry is two files in the spool folder: ID.eml contains the exact
// bytes of the message, and ID.json its [Entry] record (envelope with Bcc
// recipients, transport name and options, state, attempts, last error,
// message ID). The folder has mode 0700 and the files 0600. Every write goes
// to a temporary file that is synced and renamed, and then the folder is
// synced, so a crash leaves either the old file or the new one.
//
// [Spool.Add] writes the message before the record. A message file without a
// record is an entry whose Add did not finish: the process was killed or the
// record could not be written. [Open] and [Spool.List] remove such a file,
// and leftover temporary files, once they are older than [StaleAge] and no
// process holds their lock.
//
// # Batches
//
// A caller that sends one message as many copies adds them with a [Batch],
// so that a crash while it writes them sends none. [Spool.NewBatch] creates
// and locks the file ID.building. Entries that [Batch.Add] adds record the
// batch ID and are held: [Spool.List] reports them as [StateHeld], and no
// [Claim] sends them. [Batch.Release] releases them all in one step: it
// writes the record ID.batch atomically, and from then on they are pending
// entries like any other. Held entries whose ID.building is no longer locked
// belong to a process that died before the release, and [Spool.List]
// removes them. A batch record whose entries are all gone is removed once
// it is older than [StaleAge].
//
// # Sending once
//
// [Spool.Claim] takes an exclusive flock on the message file, so two
// processes never send the same entry at once. A second claim fails with
// [ErrBusy]. [Claim.Send] sends the stored bytes unchanged, never a copy
// signed again, and records the outcome, each record synced to disk:
//
//   - before the call, the state sending and one more attempt, once a
//     transport that paces its sends ([Pacer]) gave the entry its turn;
//   - at the transport's commit point (see [transport.Commit]), the state
//     submitted: from then on the server may accept the message;
//   - on success, the state accepted and the message ID, after which the
//     caller keeps its sent copy and calls [Claim.Remove];
//   - on an error whose Temporary method returns true (the message was
//     certainly not accepted), or that [transport.SetupFailed] reports (the
//     session could not be set up, so nothing was handed over), the state
//     pending, so a later retry sends it;
//   - on any other error, the state failed: the transport refused the
//     message or may have accepted it. A failed entry is kept for the user
//     and sent again only when a caller claims it by ID.
//
// A transport that does not implement [transport.CommitReporter] may have
// the message accepted at any moment of its Send, so the record reads
// submitted from the start of the call.
//
// A record in state sending or submitted with no process holding its lock
// belongs to a process that died during the call. Sending is reported as
// [StateInterrupted]: the process died before the commit point, nothing
// can have been accepted, and a retry sends the message once. Submitted is
// reported as [StateUnconfirmed]: the server may have accepted the
// message, so it is not due and is sent again only when a caller claims it
// by ID.
//
// # The window for a second send
//
// Neither SES nor SMTP has an idempotency key. When a process dies after
// the commit point and before the record reads accepted, the entry is
// unconfirmed, and the recipients receive the message twice if the server
// had accepted it and a caller sends the entry again. That window is one
// round trip and one synced record write. For SES, it runs from the first
// byte of the request body to the response. For SMTP, it runs from the
// final dot of the message data to the reply, plus the wait for the reply
// to QUIT, which package smtp caps at one second. Before the commit point
// nothing that left can be accepted, and after the accepted record the
// entry is never sent again. At worst, a crash between keeping the sent
// copy and the removal keeps the sent copy twice.
//
// Records written before the commit point existed have no format number,
// and their state sending covered the whole call. Such a record reads as
// submitted.
package spool

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sealmail/sealmail/internal/atomicfile"
	"github.com/sealmail/sealmail/transport"
)

// StaleAge is the age after which a message file without a record, or a
// temporary file, counts as left by a killed process, unless a process
// still holds its lock.
const StaleAge = time.Minute

// State is the stage of an entry on its way to the transport.
type State string

const (
	// StatePending is an entry waiting for its first attempt, or for
	// another one after an error that a retry can help.
	StatePending State = "pending"
	// StateSending is an entry a process is handing to its transport,
	// before the transport's commit point: the server cannot have accepted
	// the message yet.
	StateSending State = "sending"
	// StateSubmitted is an entry a process is handing to its transport,
	// after the transport's commit point: the server may accept the
	// message at any moment, and the process waits for its reply.
	StateSubmitted State = "submitted"
	// StateInterrupted is an entry whose record is in state sending while
	// no process holds its lock. The process died before the commit point,
	// so the transport did not accept the message and a retry sends it
	// once. It is never stored.
	StateInterrupted State = "interrupted"
	// StateUnconfirmed is an entry whose record is in state submitted while
	// no process holds its lock. The process died after the commit point
	// and before it recorded the reply, so the transport may have accepted
	// the message. It is sent again only when claimed by ID, and never
	// stored.
	StateUnconfirmed State = "unconfirmed"
	// StateAccepted is an entry the transport accepted, with its message
	// ID recorded, waiting for the caller to keep its sent copy and remove
	// it.
	StateAccepted State = "accepted"
	// StateFailed is an entry the transport rejected, or may have accepted
	// (an uncertain error). It is not retried unless claimed by ID.
	StateFailed State = "failed"
	// StateDamaged is a record whose message file is missing or does not
	// match, or a record that cannot be read. It is never stored.
	StateDamaged State = "damaged"
	// StateHeld is a pending entry of a [Batch] that was not released yet.
	// It is never sent, and never stored.
	StateHeld State = "held"
)

// ErrBusy is returned when another process holds the lock of an entry,
// because it is sending or removing the entry.
var ErrBusy = errors.New("the entry is locked by another process; try again once that process finishes")

// ErrNotFound is returned for an ID with no entry, such as one that another
// process sent and removed.
var ErrNotFound = errors.New("no such entry in the spool")

// errBusy is the error of tryLock for a file that another process has
// locked. It is ErrBusy.
var errBusy = ErrBusy

// Meta names the transport an entry is for. Options contains its settings
// that are not secret, such as the region or the SMTP host, so that a later
// process can build the same transport. That process reads credentials from
// the usual places, never from the spool.
type Meta struct {
	Transport string
	Options   map[string][]string
}

// recordFormat is the format number of the records this package writes.
// Format 2 separates the state sending, before the commit point, from the
// state submitted after it. Records without a format number are older.
const recordFormat = 2

// Entry is the record of one message in the spool.
type Entry struct {
	ID string `json:"id"`
	// Format is the format number of the record.
	Format   int                `json:"format,omitempty"`
	Envelope transport.Envelope `json:"envelope"`
	Created  time.Time          `json:"created"`
	// Size and SHA256 describe the message file, which is checked against
	// them before every attempt.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`

	Transport string              `json:"transport"`
	Options   map[string][]string `json:"options,omitempty"`
	// Batch is the ID of the [Batch] the entry was added with, or "".
	Batch string `json:"batch,omitempty"`

	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastError is the error of the last attempt, or why the entry is
	// damaged.
	LastError string `json:"last_error,omitempty"`
	// MessageID is the identifier the transport assigned on acceptance.
	MessageID string    `json:"message_id,omitempty"`
	Accepted  time.Time `json:"accepted,omitzero"`
}

// Due reports whether a retry of the whole spool handles the entry: pending,
// interrupted, or accepted but not yet removed. Failed, unconfirmed and
// damaged entries wait for the user.
func (e Entry) Due() bool {
	return e.State == StatePending || e.State == StateInterrupted || e.State == StateAccepted
}

// Spool is one spool folder. It is safe for concurrent use, within a
// process and across processes.
type Spool struct {
	dir string
}

// Open opens the spool at dir, creating it with mode 0700 if needed, and
// removes what killed processes left there (see [StaleAge]).
func Open(dir string) (*Spool, error) {
	if dir == "" {
		return nil, errors.New("missing spool folder")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create spool %q: %w", dir, err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open spool %q: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("invalid spool %q: not a folder", dir)
	}

	s := &Spool{dir: dir}
	if err := s.removeStale(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the folder of the spool.
func (s *Spool) Dir() string { return s.dir }

// Add stores the bytes of raw and a record with env and meta as a pending
// entry. The message file is complete and synced before the record is
// written, so an entry with a record always has its whole message.
func (s *Spool) Add(env transport.Envelope, raw io.Reader, meta Meta) (Entry, error) {
	return s.add(env, raw, meta, "")
}

// add implements Add, and Batch.Add with the ID of the batch.
func (s *Spool) add(env transport.Envelope, raw io.Reader, meta Meta, batch string) (Entry, error) {
	if len(env.Recipients) == 0 {
		return Entry{}, errors.New("failed to add to the spool: missing envelope recipients")
	}
	if meta.Transport == "" {
		return Entry{}, errors.New("failed to add to the spool: missing transport name")
	}
	id, err := newID()
	if err != nil {
		return Entry{}, err
	}

	// The lock on the message file is held until the record exists, so
	// that removeStale never takes the file for one of a killed process.
	f, size, sum, err := s.writeMessage(id, raw)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()

	e := Entry{
		ID:        id,
		Format:    recordFormat,
		Envelope:  transport.Envelope{From: env.From, Recipients: slices.Clone(env.Recipients)},
		Created:   time.Now().UTC(),
		Size:      size,
		SHA256:    sum,
		Transport: meta.Transport,
		Options:   cloneOptions(meta.Options),
		Batch:     batch,
		State:     StatePending,
	}
	if err := s.writeRecord(e); err != nil {
		os.Remove(s.messagePath(id))
		return Entry{}, err
	}
	return e, nil
}

// writeMessage copies raw into ID.eml through a locked temporary file, so
// that removeStale leaves it alone while it is written. It returns the
// file, still open and locked, with its size and SHA-256 in hex.
func (s *Spool) writeMessage(id string, raw io.Reader) (*os.File, int64, string, error) {
	f, err := os.CreateTemp(s.dir, "."+id+".eml.tmp-*")
	if err != nil {
		return nil, 0, "", fmt.Errorf("failed to create a message file in spool %q: %w", s.dir, err)
	}
	tmpPath := f.Name()

	hash := sha256.New()
	var size int64
	err = tryLock(f)
	if err == nil {
		size, err = io.Copy(io.MultiWriter(f, hash), raw)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmpPath, s.messagePath(id))
	}
	if err != nil {
		f.Close()
		os.Remove(tmpPath)
		return nil, 0, "", fmt.Errorf("failed to write message file %q: %w", s.messagePath(id), err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(s.messagePath(id))
		return nil, 0, "", err
	}
	return f, size, hex.EncodeToString(hash.Sum(nil)), nil
}

// List returns every entry, oldest first, after removing what killed
// processes left (see [StaleAge]). A record in state sending or submitted is
// returned as interrupted or unconfirmed when no process holds its lock.
func (s *Spool) List() ([]Entry, error) {
	if err := s.removeStale(); err != nil {
		return nil, err
	}
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("failed to list spool %q: %w", s.dir, err)
	}

	var entries []Entry
	batches := make(map[string]batchState)
	for _, d := range names {
		id, ok := strings.CutSuffix(d.Name(), ".json")
		if !ok || !validID(id) {
			continue
		}
		e, err := s.readRecord(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			e = Entry{ID: id, State: StateDamaged, LastError: err.Error()}
		}
		if _, err := os.Stat(s.messagePath(id)); err != nil {
			e.State, e.LastError = StateDamaged, fmt.Sprintf("missing message file: %v", err)
		}
		if e.State == StateSending || e.State == StateSubmitted {
			e.State = s.liveState(id, e.State)
		}
		if e.Batch != "" && e.State == StatePending {
			state, ok := batches[e.Batch]
			if !ok {
				state = s.batchState(e.Batch)
				batches[e.Batch] = state
			}
			if state == batchAbandoned {
				// Its batch was never released, so the entry was never
				// sent and never will be.
				s.removeHeld(id)
				continue
			}
			if state == batchBuilding {
				e.State = StateHeld
			}
		}
		entries = append(entries, e)
	}
	s.removeFinishedBatches(names, batches)

	// IDs start with the creation time, so they sort by age.
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	return entries, nil
}

// liveState returns stored, StateSending or StateSubmitted, while a process
// holds the lock of the entry, and the state of a dead sender otherwise.
func (s *Spool) liveState(id string, stored State) State {
	f, err := os.Open(s.messagePath(id))
	if err != nil {
		return deadState(stored)
	}
	defer f.Close()
	if err := tryLock(f); errors.Is(err, ErrBusy) {
		return stored
	}
	return deadState(stored)
}

// deadState returns the state of a record found in state stored with no
// process holding its lock.
func deadState(stored State) State {
	switch stored {
	case StateSending:
		return StateInterrupted
	case StateSubmitted:
		return StateUnconfirmed
	}
	return stored
}

// Get returns the entry with the given ID as [Spool.List] reports it.
func (s *Spool) Get(id string) (Entry, error) {
	entries, err := s.List()
	if err != nil {
		return Entry{}, err
	}
	for _, e := range entries {
		if e.ID == id {
			return e, nil
		}
	}
	if !validID(id) {
		return Entry{}, fmt.Errorf("invalid spool entry ID %q", id)
	}
	return Entry{}, fmt.Errorf("spool entry %s: %w", id, ErrNotFound)
}

// Send claims the entry, sends it through t unless it is already accepted,
// and removes it once accepted. It returns the entry as last recorded, with
// the message ID on success. Callers that keep a sent copy use [Spool.Claim]
// instead, so that they can keep it before the removal.
func (s *Spool) Send(ctx context.Context, id string, t transport.Transport) (Entry, error) {
	c, err := s.Claim(id)
	if err != nil {
		return Entry{}, err
	}
	defer c.Release()

	if err := c.Send(ctx, t); err != nil {
		return c.Entry(), err
	}
	e := c.Entry()
	return e, c.Remove()
}

// Remove deletes the entry with the given ID, in whatever state, unless
// another process holds its lock. When it was the last entry of a released
// batch, it removes the record of the batch too.
func (s *Spool) Remove(id string) error {
	c, err := s.claim(id, true)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := c.Remove(); err != nil {
		return err
	}
	if batch := c.Entry().Batch; batch != "" {
		return s.RemoveFinishedBatch(batch)
	}
	return nil
}

// Pacer is a transport that spaces its sends to a rate, such as
// *ses.Transport. [Claim.Send] waits for the turn of an entry before it
// records the attempt, so that an entry reads as sending, and after a crash
// as interrupted, only while its request is on its way. WaitTurn returns
// the context to pass to Send, which then takes that turn instead of
// waiting for another.
type Pacer interface {
	WaitTurn(ctx context.Context, env transport.Envelope) (context.Context, error)
}

// Claim is the exclusive hold of one process on one entry, taken by
// [Spool.Claim] and given up by [Claim.Release].
type Claim struct {
	spool *Spool
	entry Entry
	// file is the open message file, which carries the flock.
	file    *os.File
	removed bool
}

// Claim takes the lock of the entry with the given ID without waiting, and
// reads its record. It returns an error wrapping [ErrBusy] when another
// process holds the lock, and [ErrNotFound] when the entry is gone. A record
// found in state sending or submitted is reported as interrupted or
// unconfirmed, since its sender died.
func (s *Spool) Claim(id string) (*Claim, error) {
	return s.claim(id, false)
}

// claim implements Claim. With damagedOK it also claims an entry whose
// record is unreadable or whose message file is missing, so that Remove can
// delete it.
func (s *Spool) claim(id string, damagedOK bool) (*Claim, error) {
	if !validID(id) {
		return nil, fmt.Errorf("invalid spool entry ID %q", id)
	}

	f, err := os.Open(s.messagePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return s.claimDamaged(id, damagedOK)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to open spool entry %s: %w", id, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock spool entry %s: %w", id, err)
	}

	// The record is read under the lock: a process that held it before
	// may have changed the record, or removed the entry.
	e, err := s.readRecord(id)
	if err != nil && (errors.Is(err, ErrNotFound) || !damagedOK) {
		f.Close()
		return nil, err
	}
	if err != nil {
		e = Entry{ID: id, State: StateDamaged, LastError: err.Error()}
	}
	e.State = deadState(e.State)
	if e.Batch != "" && e.State == StatePending && s.batchState(e.Batch) != batchReleased {
		e.State = StateHeld
	}
	return &Claim{spool: s, entry: e, file: f}, nil
}

// claimDamaged handles a record whose message file is missing: with
// damagedOK it returns a claim that can only remove the record.
func (s *Spool) claimDamaged(id string, damagedOK bool) (*Claim, error) {
	if _, err := os.Stat(s.recordPath(id)); err != nil {
		return nil, fmt.Errorf("spool entry %s: %w", id, ErrNotFound)
	}
	if !damagedOK {
		return nil, fmt.Errorf("spool entry %s is damaged: its message file %q is missing; remove the entry", id, s.messagePath(id))
	}
	e := Entry{ID: id, State: StateDamaged, LastError: "missing message file"}
	return &Claim{spool: s, entry: e}, nil
}

// Entry returns the entry as last read or recorded.
func (c *Claim) Entry() Entry { return c.entry }

// Message returns a reader of the stored bytes.
func (c *Claim) Message() io.Reader {
	return io.NewSectionReader(c.file, 0, c.entry.Size)
}

// Send hands the stored bytes to t, unless the entry is already accepted,
// and records the outcome as the package documentation describes. A failed
// or unconfirmed entry is sent again: claiming it by ID is the user's
// choice.
func (c *Claim) Send(ctx context.Context, t transport.Transport) error {
	e := c.entry
	switch {
	case c.removed:
		return fmt.Errorf("spool entry %s: %w", e.ID, ErrNotFound)
	case e.State == StateAccepted:
		return nil
	case e.State == StateDamaged:
		return fmt.Errorf("spool entry %s is damaged (%s); inspect it and remove it", e.ID, e.LastError)
	case e.State == StateHeld:
		return fmt.Errorf("spool entry %s is held, because the process that added it has not released its batch %s; it is never sent unless that process finishes adding the batch", e.ID, e.Batch)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to send spool entry %s: %w", e.ID, err)
	}
	if err := c.checkMessage(); err != nil {
		return err
	}
	if p, ok := t.(Pacer); ok {
		turn, err := p.WaitTurn(ctx, e.Envelope)
		if err != nil {
			return fmt.Errorf("failed to send spool entry %s: %w", e.ID, err)
		}
		ctx = turn
	}

	// The attempt is recorded before it starts, and again at the commit
	// point, so that a process killed during the call leaves a record that
	// reads as interrupted before that point and as unconfirmed after it.
	e.State = StateSending
	if reporter, ok := t.(transport.CommitReporter); !ok || !reporter.ReportsCommit() {
		e.State = StateSubmitted
	}
	e.Attempts++
	e.LastAttempt = time.Now().UTC()
	if err := c.spool.writeRecord(e); err != nil {
		return err
	}
	c.entry = e

	// The transport may call the function from another goroutine, while
	// Send waits for it, so it touches nothing but the record file.
	submitted := e
	submitted.State = StateSubmitted
	var committed atomic.Bool
	ctx = transport.OnCommit(ctx, func() error {
		if err := c.spool.writeRecord(submitted); err != nil {
			return err
		}
		committed.Store(true)
		return nil
	})
	messageID, sendErr := t.Send(ctx, e.Envelope, c.Message())
	if committed.Load() {
		e = submitted
		c.entry = e
	}
	if sendErr != nil {
		return c.recordFailure(sendErr)
	}

	e.State = StateAccepted
	e.MessageID = messageID
	e.Accepted = time.Now().UTC()
	e.LastError = ""
	if err := c.spool.writeRecord(e); err != nil {
		// The record stays in state submitted, so the entry reads as
		// unconfirmed and no retry of the whole spool sends it again.
		return fmt.Errorf("the transport accepted spool entry %s with message ID %s, but %w; remove the entry instead of retrying it, or it is sent twice", e.ID, messageID, err)
	}
	c.entry = e
	return nil
}

// recordFailure records sendErr as the last error of the entry. The state
// becomes pending when the error's Temporary method returns true or
// [transport.SetupFailed] reports it, and failed otherwise. It returns sendErr, joined with the error of the record write if
// that failed.
func (c *Claim) recordFailure(sendErr error) error {
	// A session that could not be set up handed nothing over, so the entry
	// goes again once the settings are fixed, even when the cause was
	// permanent, such as a wrong password.
	var temporary interface{ Temporary() bool }
	retry := errors.As(sendErr, &temporary) && temporary.Temporary() || transport.SetupFailed(sendErr)

	e := c.entry
	e.State = StateFailed
	if retry {
		e.State = StatePending
	}
	e.LastError = sendErr.Error()
	if err := c.spool.writeRecord(e); err != nil {
		return errors.Join(sendErr, err)
	}
	c.entry = e
	return sendErr
}

// checkMessage compares the message file with the size and SHA-256 in the
// record, so that a changed file is never sent in place of the stored one.
func (c *Claim) checkMessage() error {
	hash := sha256.New()
	n, err := io.Copy(hash, io.NewSectionReader(c.file, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("failed to read the message of spool entry %s: %w", c.entry.ID, err)
	}
	if n != c.entry.Size || hex.EncodeToString(hash.Sum(nil)) != c.entry.SHA256 {
		return fmt.Errorf("spool entry %s is damaged: its message file %q changed since it was added; inspect it and remove the entry", c.entry.ID, c.file.Name())
	}
	return nil
}

// Remove deletes the record and then the message file. A crash between the
// two leaves a message file without a record, which [Open] or [Spool.List]
// removes once it is older than [StaleAge].
func (c *Claim) Remove() error {
	if c.removed {
		return nil
	}
	id := c.entry.ID
	if err := os.Remove(c.spool.recordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove spool entry %s: %w", id, err)
	}
	if err := syncDir(c.spool.dir); err != nil {
		return err
	}
	if err := os.Remove(c.spool.messagePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove the message file of spool entry %s: %w", id, err)
	}
	c.removed = true
	return syncDir(c.spool.dir)
}

// Release gives up the lock. It is safe to call more than once.
func (c *Claim) Release() {
	if c.file == nil {
		return
	}
	unlock(c.file)
	c.file.Close()
	c.file = nil
}

// removeStale deletes temporary files, message files without a record and
// the lock files of batches that are older than StaleAge and not locked by
// a process.
func (s *Spool) removeStale() error {
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("failed to list spool %q: %w", s.dir, err)
	}
	for _, d := range names {
		name := d.Name()
		id, isMessage := strings.CutSuffix(name, ".eml")
		batch, isBuilding := strings.CutSuffix(name, ".building")
		isTemp := strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
		switch {
		case isTemp:
		case isBuilding && validID(batch):
		case isMessage && validID(id):
			if _, err := os.Stat(s.recordPath(id)); !errors.Is(err, fs.ErrNotExist) {
				continue
			}
		default:
			continue
		}
		s.removeIfStale(filepath.Join(s.dir, name), isMessage)
	}
	return nil
}

// removeIfStale removes the file at path if it is older than StaleAge and
// unlocked. For a message file it checks under the lock that the record is
// still missing, since Add writes it while holding the lock.
func (s *Spool) removeIfStale(path string, isMessage bool) {
	info, err := os.Stat(path)
	if err != nil || time.Since(info.ModTime()) < StaleAge {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if tryLock(f) != nil {
		return
	}
	if isMessage {
		id := strings.TrimSuffix(filepath.Base(path), ".eml")
		if _, err := os.Stat(s.recordPath(id)); !errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	os.Remove(path)
}

func (s *Spool) readRecord(id string) (Entry, error) {
	data, err := os.ReadFile(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, fmt.Errorf("spool entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("failed to read the record of spool entry %s: %w", id, err)
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("invalid record of spool entry %s: %w", id, err)
	}
	if e.ID != id {
		return Entry{}, fmt.Errorf("invalid record of spool entry %s: it names the ID %q", id, e.ID)
	}
	if e.Format < recordFormat && e.State == StateSending {
		// An older record in state sending may be past the commit point.
		e.State = StateSubmitted
	}
	return e, nil
}

func (s *Spool) writeRecord(e Entry) error {
	e.Format = recordFormat
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode the record of spool entry %s: %w", e.ID, err)
	}
	return writeFileAtomic(s.recordPath(e.ID), append(data, '\n'))
}

func (s *Spool) messagePath(id string) string { return filepath.Join(s.dir, id+".eml") }
func (s *Spool) recordPath(id string) string  { return filepath.Join(s.dir, id+".json") }

// idPattern matches the IDs newID makes: the UTC creation time to the
// second, then 16 random hex digits. Spools written before batches existed
// contain IDs with 8.
var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}(?:[0-9a-f]{8})?$`)

func validID(id string) bool { return idPattern.MatchString(id) }

// newID returns an ID that sorts by creation time, such as
// "20261204T230053Z-1f2e3d4c5b6a7980". The 64 random bits keep the IDs of
// the thousands of entries that one batch may add in a second apart.
func newID() (string, error) {
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("failed to make a spool entry ID: %w", err)
	}
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(random[:]), nil
}

func cloneOptions(options map[string][]string) map[string][]string {
	if len(options) == 0 {
		return nil
	}
	clone := make(map[string][]string, len(options))
	for name, values := range options {
		clone[name] = slices.Clone(values)
	}
	return clone
}

// writeFileAtomic replaces path with data atomically, as package
// atomicfile describes.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, "."+filepath.Base(path)+".tmp-*")
}

func syncDir(dir string) error {
	return atomicfile.SyncDir(dir)
}
