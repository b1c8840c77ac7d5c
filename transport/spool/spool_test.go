package spool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/spool"
)

const testMessage = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Spool\r\n\r\nHello.\r\n"

var testEnvelope = transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org", "carol@example.org"}}

// fakeTransport records what it is handed and returns err, or the message
// ID "id-N" for the Nth call. Send waits for block, and with commits, it
// calls transport.Commit after that and then waits for afterCommit.
type fakeTransport struct {
	mu          sync.Mutex
	raws        [][]byte
	envs        []transport.Envelope
	err         error
	block       chan struct{}
	commits     bool
	afterCommit chan struct{}
}

func (f *fakeTransport) ReportsCommit() bool { return f.commits }

func (f *fakeTransport) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	data, err := io.ReadAll(raw)
	if err != nil {
		return "", err
	}
	if f.block != nil {
		<-f.block
	}
	if f.commits {
		if err := transport.Commit(ctx); err != nil {
			return "", err
		}
		if f.afterCommit != nil {
			<-f.afterCommit
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raws = append(f.raws, data)
	f.envs = append(f.envs, env)
	if f.err != nil {
		return "", f.err
	}
	return "id-" + string(rune('0'+len(f.raws))), nil
}

func (f *fakeTransport) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.raws)
}

// temporaryError is an error that a retry may fix when temporary is set,
// as a *ses.SendError is when SES throttled the request.
type temporaryError struct{ temporary bool }

func (e temporaryError) Error() string   { return "refused for now" }
func (e temporaryError) Temporary() bool { return e.temporary }

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return sp
}

func addMessage(t *testing.T, sp *spool.Spool) spool.Entry {
	t.Helper()
	e, err := sp.Add(testEnvelope, strings.NewReader(testMessage), spool.Meta{
		Transport: "ses",
		Options:   map[string][]string{"region": {"eu-west-1"}},
	})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return e
}

func listEntries(t *testing.T, sp *spool.Spool) []spool.Entry {
	t.Helper()
	entries, err := sp.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return entries
}

func TestAddStoresRecordAndModes(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)

	if e.State != spool.StatePending || e.Attempts != 0 || e.Size != int64(len(testMessage)) {
		t.Errorf("new entry = %+v, want pending, no attempts, size %d", e, len(testMessage))
	}
	entries := listEntries(t, sp)
	if len(entries) != 1 {
		t.Fatalf("List returned %d entries, want 1", len(entries))
	}
	got := entries[0]
	if got.ID != e.ID || got.Transport != "ses" || got.Options["region"][0] != "eu-west-1" {
		t.Errorf("listed entry = %+v, want the added one", got)
	}
	if strings.Join(got.Envelope.Recipients, ",") != "bob@example.org,carol@example.org" {
		t.Errorf("recipients = %v, want Bob and Carol", got.Envelope.Recipients)
	}

	info, err := os.Stat(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("spool folder mode = %04o, want 0700", perm)
	}
	for _, name := range []string{e.ID + ".eml", e.ID + ".json"} {
		info, err := os.Stat(filepath.Join(sp.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %04o, want 0600", name, perm)
		}
	}
}

func TestSendSameBytesAndRemoves(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{}

	sent, err := sp.Send(context.Background(), e.ID, ft)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if sent.State != spool.StateAccepted || sent.MessageID != "id-1" || sent.Attempts != 1 {
		t.Errorf("sent entry = %+v, want accepted with message ID id-1 after 1 attempt", sent)
	}
	if ft.calls() != 1 || string(ft.raws[0]) != testMessage {
		t.Errorf("transport got %d calls, first %q; want the stored bytes once", ft.calls(), ft.raws)
	}
	if len(ft.envs[0].Recipients) != 2 {
		t.Errorf("transport got envelope %+v, want both recipients", ft.envs[0])
	}
	if entries := listEntries(t, sp); len(entries) != 0 {
		t.Errorf("spool contains %d entries after the send, want 0", len(entries))
	}
	if names, _ := os.ReadDir(sp.Dir()); len(names) != 0 {
		t.Errorf("spool folder contains %d files after the send, want 0", len(names))
	}
}

func TestSendTemporaryErrorStaysPending(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{err: temporaryError{temporary: true}}

	if _, err := sp.Send(context.Background(), e.ID, ft); err == nil {
		t.Fatal("Send succeeded, want the transport's error")
	}
	got := listEntries(t, sp)[0]
	if got.State != spool.StatePending || got.Attempts != 1 || got.LastError != "refused for now" {
		t.Errorf("entry = %+v, want pending after 1 attempt with the error", got)
	}
	if !got.Due() {
		t.Error("a pending entry is not due")
	}

	ft.err = nil
	if _, err := sp.Send(context.Background(), e.ID, ft); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if ft.calls() != 2 || !bytes.Equal(ft.raws[0], ft.raws[1]) {
		t.Errorf("transport got %d calls, want 2 with the same bytes", ft.calls())
	}
}

// setupError is an error of a session that could not be set up, as a
// *smtp.SendError is for a wrong password.
type setupError struct{}

func (setupError) Error() string     { return "wrong password" }
func (setupError) Temporary() bool   { return false }
func (setupError) SetupFailed() bool { return true }

func TestSetupFailureStaysPending(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)

	if _, err := sp.Send(context.Background(), e.ID, &fakeTransport{err: fmt.Errorf("wrapped: %w", setupError{})}); err == nil {
		t.Fatal("Send succeeded, want the transport's error")
	}
	got := listEntries(t, sp)[0]
	if got.State != spool.StatePending || !got.Due() {
		t.Errorf("entry = %+v (due %v), want pending and due, since nothing was handed over", got, got.Due())
	}
	if got.LastError != "wrapped: wrong password" {
		t.Errorf("LastError = %q, want the error of the setup", got.LastError)
	}
}

func TestSendPermanentErrorFails(t *testing.T) {
	for name, err := range map[string]error{
		"not temporary":    temporaryError{temporary: false},
		"no classifier":    errors.New("message rejected"),
		"wrapped rejected": errors.Join(errors.New("context"), temporaryError{}),
	} {
		t.Run(name, func(t *testing.T) {
			sp := openSpool(t)
			e := addMessage(t, sp)

			if _, sendErr := sp.Send(context.Background(), e.ID, &fakeTransport{err: err}); sendErr == nil {
				t.Fatal("Send succeeded, want the transport's error")
			}
			got := listEntries(t, sp)[0]
			if got.State != spool.StateFailed || got.Due() {
				t.Errorf("entry = %+v (due %v), want failed and not due", got, got.Due())
			}
		})
	}
}

func TestAcceptedEntryIsNotSentAgain(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{}

	// The first process records the acceptance and dies before it removes
	// the entry: Release without Remove.
	c, err := sp.Claim(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), ft); err != nil {
		t.Fatal(err)
	}
	c.Release()

	got := listEntries(t, sp)[0]
	if got.State != spool.StateAccepted || got.MessageID != "id-1" || !got.Due() {
		t.Errorf("entry = %+v, want accepted with id-1 and due for removal", got)
	}

	c, err = sp.Claim(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if err := c.Send(context.Background(), ft); err != nil {
		t.Fatalf("Send of an accepted entry: %v", err)
	}
	if ft.calls() != 1 {
		t.Errorf("transport got %d calls, want 1: an accepted entry is never sent again", ft.calls())
	}
	kept, err := io.ReadAll(c.Message())
	if err != nil || string(kept) != testMessage {
		t.Errorf("Message() = %q, %v; want the stored bytes", kept, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if entries := listEntries(t, sp); len(entries) != 0 {
		t.Errorf("spool contains %d entries after Remove, want 0", len(entries))
	}
}

func TestInterruptedEntryIsSentAgain(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{block: make(chan struct{}), commits: true}

	// While the transport is blocked before its commit point, the entry
	// reads as sending, and no other claim succeeds.
	done := make(chan error)
	go func() {
		_, err := sp.Send(context.Background(), e.ID, ft)
		done <- err
	}()
	waitForState(t, sp, spool.StateSending)
	if _, err := sp.Claim(e.ID); !errors.Is(err, spool.ErrBusy) {
		t.Errorf("Claim during a send: %v, want ErrBusy", err)
	}
	close(ft.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A record left in state sending without a lock holder is what a
	// process killed before the commit point leaves.
	e2 := addMessage(t, sp)
	setRecordState(t, sp, e2.ID, spool.StateSending)
	got := listEntries(t, sp)[0]
	if got.State != spool.StateInterrupted || !got.Due() {
		t.Errorf("entry = %+v, want interrupted and due", got)
	}
	ft.block = nil
	if _, err := sp.Send(context.Background(), e2.ID, ft); err != nil {
		t.Fatal(err)
	}
	if ft.calls() != 2 {
		t.Errorf("transport got %d calls, want 2", ft.calls())
	}
}

func TestSubmittedEntryWaitsForUser(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{commits: true, afterCommit: make(chan struct{})}

	// While the transport is blocked after its commit point, the entry
	// reads as submitted.
	done := make(chan error)
	go func() {
		_, err := sp.Send(context.Background(), e.ID, ft)
		done <- err
	}()
	waitForState(t, sp, spool.StateSubmitted)
	close(ft.afterCommit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A record left in state submitted without a lock holder is what a
	// process killed after the commit point leaves.
	e2 := addMessage(t, sp)
	setRecordState(t, sp, e2.ID, spool.StateSubmitted)
	got := listEntries(t, sp)[0]
	if got.State != spool.StateUnconfirmed || got.Due() {
		t.Errorf("entry = %+v, want unconfirmed and not due", got)
	}

	// Claimed by ID, it is sent again.
	ft.afterCommit = nil
	sent, err := sp.Send(context.Background(), e2.ID, ft)
	if err != nil {
		t.Fatal(err)
	}
	if sent.State != spool.StateAccepted || ft.calls() != 2 {
		t.Errorf("entry = %+v after %d calls, want accepted after 2", sent, ft.calls())
	}
}

func TestTemporaryErrorAfterCommitIsPending(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{commits: true, err: temporaryError{temporary: true}}

	if _, err := sp.Send(context.Background(), e.ID, ft); err == nil {
		t.Fatal("Send succeeded, want the transport's error")
	}
	got := listEntries(t, sp)[0]
	if got.State != spool.StatePending || !got.Due() {
		t.Errorf("entry = %+v, want pending and due: the transport said it was not accepted", got)
	}
}

func TestTransportWithoutCommitIsSubmitted(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{block: make(chan struct{})}

	done := make(chan error)
	go func() {
		_, err := sp.Send(context.Background(), e.ID, ft)
		done <- err
	}()
	// The transport may accept the message at any time during its Send.
	waitForState(t, sp, spool.StateSubmitted)
	close(ft.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOldRecordReadable(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)

	// A record written before format 2: capitalised envelope names, no
	// format number, and the state sending for the whole call.
	record := filepath.Join(sp.Dir(), e.ID+".json")
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	for old, replacement := range map[string]string{
		`"from":`:            `"From":`,
		`"recipients":`:      `"Recipients":`,
		`"format": 2,`:       ``,
		`"state": "pending"`: `"state": "sending"`,
	} {
		if !bytes.Contains(data, []byte(old)) {
			t.Fatalf("record lacks %s:\n%s", old, data)
		}
		data = bytes.Replace(data, []byte(old), []byte(replacement), 1)
	}
	if err := os.WriteFile(record, data, 0o600); err != nil {
		t.Fatal(err)
	}

	got := listEntries(t, sp)[0]
	if got.State != spool.StateUnconfirmed || got.Due() {
		t.Errorf("old record in state sending = %+v, want unconfirmed and not due", got)
	}
	if got.Envelope.From != "alice@example.org" || len(got.Envelope.Recipients) != 2 {
		t.Errorf("envelope of the old record = %+v, want Alice to Bob and Carol", got.Envelope)
	}
}

// setRecordState rewrites the state in the record of the entry id, as a
// process that died in that state leaves it.
func setRecordState(t *testing.T, sp *spool.Spool, id string, state spool.State) {
	t.Helper()
	record := filepath.Join(sp.Dir(), id+".json")
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"state": "pending"`), []byte(`"state": "`+state+`"`), 1)
	if err := os.WriteFile(record, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitForState(t *testing.T, sp *spool.Spool, want spool.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if entries := listEntries(t, sp); len(entries) == 1 && entries[0].State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("entry never reached state %s", want)
}

func TestConcurrentSendsSendOnce(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	ft := &fakeTransport{}

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			// Each goroutine opens the spool itself, as another process
			// would.
			other, err := spool.Open(sp.Dir())
			if err != nil {
				t.Error(err)
				return
			}
			_, err = other.Send(context.Background(), e.ID, ft)
			if err != nil && !errors.Is(err, spool.ErrBusy) && !errors.Is(err, spool.ErrNotFound) {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	if ft.calls() != 1 {
		t.Errorf("transport got %d calls, want 1", ft.calls())
	}
}

func TestChangedMessageIsNotSent(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	path := filepath.Join(sp.Dir(), e.ID+".eml")
	if err := os.WriteFile(path, []byte(strings.Replace(testMessage, "Hello", "Jello", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &fakeTransport{}

	_, err := sp.Send(context.Background(), e.ID, ft)
	if err == nil || !strings.Contains(err.Error(), "changed since it was added") {
		t.Errorf("Send of a changed message: %v, want an error about the change", err)
	}
	if ft.calls() != 0 {
		t.Errorf("transport got %d calls, want 0", ft.calls())
	}
}

func TestOpenRemovesIncompleteEntries(t *testing.T) {
	sp := openSpool(t)
	old := time.Now().Add(-2 * spool.StaleAge)
	files := map[string]time.Time{
		"20260101T000000Z-00000001.eml":          old,
		"20260101T000000Z-00000002.eml":          time.Now(),
		".20260101T000000Z-00000003.eml.tmp-123": old,
	}
	for name, mtime := range files {
		path := filepath.Join(sp.Dir(), name)
		if err := os.WriteFile(path, []byte(testMessage), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// A complete entry stays, however old.
	e := addMessage(t, sp)
	for _, name := range []string{e.ID + ".eml", e.ID + ".json"} {
		if err := os.Chtimes(filepath.Join(sp.Dir(), name), old, old); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := spool.Open(sp.Dir()); err != nil {
		t.Fatal(err)
	}
	var names []string
	dir, err := os.ReadDir(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dir {
		names = append(names, d.Name())
	}
	want := []string{"20260101T000000Z-00000002.eml", e.ID + ".eml", e.ID + ".json"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("spool folder after Open = %v, want %v", names, want)
	}
}

func TestRemoveDamagedEntry(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	if err := os.Remove(filepath.Join(sp.Dir(), e.ID+".eml")); err != nil {
		t.Fatal(err)
	}

	got := listEntries(t, sp)[0]
	if got.State != spool.StateDamaged || got.Due() {
		t.Errorf("entry = %+v, want damaged and not due", got)
	}
	if _, err := sp.Send(context.Background(), e.ID, &fakeTransport{}); err == nil {
		t.Error("Send of a damaged entry succeeded")
	}
	if err := sp.Remove(e.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if entries := listEntries(t, sp); len(entries) != 0 {
		t.Errorf("spool contains %d entries after Remove, want 0", len(entries))
	}
}

func TestClaimRejectsInvalidID(t *testing.T) {
	sp := openSpool(t)
	for _, id := range []string{"", "../keyring", "20260101T000000Z-0000000g"} {
		if _, err := sp.Claim(id); err == nil || !strings.Contains(err.Error(), "invalid spool entry ID") {
			t.Errorf("Claim(%q) = %v, want an invalid ID error", id, err)
		}
	}
	if _, err := sp.Claim("20260101T000000Z-00000000"); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Claim of a missing entry = %v, want ErrNotFound", err)
	}
}
