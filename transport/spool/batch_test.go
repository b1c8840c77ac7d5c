package spool_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/spool"
)

// addToBatch adds n messages to b, each to its own recipient, at once.
func addToBatch(t *testing.T, b *spool.Batch, n int) []spool.Entry {
	t.Helper()
	entries := make([]spool.Entry, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			env := transport.Envelope{From: "alice@example.org", Recipients: []string{fmt.Sprintf("user%d@example.org", i)}}
			e, err := b.Add(env, strings.NewReader(testMessage), spool.Meta{Transport: "ses"})
			if err != nil {
				t.Errorf("Batch.Add: %v", err)
			}
			entries[i] = e
		})
	}
	wg.Wait()
	return entries
}

func TestBatchHeldUntilRelease(t *testing.T) {
	sp := openSpool(t)
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	added := addToBatch(t, b, 16)
	ft := &fakeTransport{}

	entries := listEntries(t, sp)
	if len(entries) != 16 {
		t.Fatalf("List returned %d entries, want 16", len(entries))
	}
	for _, e := range entries {
		if e.State != spool.StateHeld || e.Due() || e.Batch != b.ID() {
			t.Errorf("entry before the release = %+v, want held in batch %s and not due", e, b.ID())
		}
	}
	_, err = sp.Send(context.Background(), added[0].ID, ft)
	if err == nil || !strings.Contains(err.Error(), "is held") {
		t.Errorf("Send of a held entry = %v, want an error that it is held", err)
	}
	if ft.calls() != 0 {
		t.Fatalf("transport got %d calls before the release, want 0", ft.calls())
	}

	if err := b.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	for _, e := range listEntries(t, sp) {
		if e.State != spool.StatePending || !e.Due() {
			t.Errorf("entry after the release = %+v, want pending and due", e)
		}
	}
	for _, e := range added {
		if _, err := sp.Send(context.Background(), e.ID, ft); err != nil {
			t.Errorf("Send after the release: %v", err)
		}
	}
	if ft.calls() != 16 {
		t.Errorf("transport got %d calls, want 16", ft.calls())
	}
	if _, err := b.Add(testEnvelope, strings.NewReader(testMessage), spool.Meta{Transport: "ses"}); err == nil {
		t.Error("Add to a released batch succeeded")
	}
	if _, err := os.Stat(filepath.Join(sp.Dir(), b.ID()+".building")); !os.IsNotExist(err) {
		t.Errorf("the lock file of the released batch is still there: %v", err)
	}
}

func TestBatchDiscardRemovesEntries(t *testing.T) {
	sp := openSpool(t)
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	addToBatch(t, b, 4)
	if err := b.Discard(); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	if entries := listEntries(t, sp); len(entries) != 0 {
		t.Errorf("List after Discard returned %d entries, want 0", len(entries))
	}
	names, err := os.ReadDir(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("spool folder after Discard holds %v, want nothing", names)
	}
}

// TestBatchProcess is not a test: TestBatchAbandonedByDeadProcess runs the
// test binary with SPOOL_BATCH_DIR set, so that this adds entries to a batch
// in a process of its own and exits without releasing it.
func TestBatchProcess(t *testing.T) {
	dir := os.Getenv("SPOOL_BATCH_DIR")
	if dir == "" {
		t.Skip("runs only as the child process of TestBatchAbandonedByDeadProcess")
	}
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	addToBatch(t, b, 3)
	os.Exit(0)
}

func TestBatchAbandonedByDeadProcess(t *testing.T) {
	sp := openSpool(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestBatchProcess$")
	cmd.Env = append(os.Environ(), "SPOOL_BATCH_DIR="+sp.Dir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the child process failed: %v\n%s", err, out)
	}
	var records int
	names, err := os.ReadDir(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range names {
		if strings.HasSuffix(d.Name(), ".json") {
			records++
		}
	}
	if records != 3 {
		t.Fatalf("the child process left %d records, want 3", records)
	}

	// The process that added them is gone, so they are never sent and
	// List removes them.
	if entries := listEntries(t, sp); len(entries) != 0 {
		t.Errorf("List returned %+v, want no entries of the abandoned batch", entries)
	}
	names, err = os.ReadDir(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range names {
		if !strings.HasSuffix(d.Name(), ".building") {
			t.Errorf("spool folder still holds %s", d.Name())
		}
	}
}

func TestBatchRecordRemovedWhenDone(t *testing.T) {
	sp := openSpool(t)
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	added := addToBatch(t, b, 2)
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(sp.Dir(), b.ID()+".batch")
	old := time.Now().Add(-2 * spool.StaleAge)
	if err := os.Chtimes(record, old, old); err != nil {
		t.Fatal(err)
	}

	// The record stays while an entry of the batch is left.
	if _, err := sp.Send(context.Background(), added[0].ID, &fakeTransport{}); err != nil {
		t.Fatal(err)
	}
	if entries := listEntries(t, sp); len(entries) != 1 || entries[0].State != spool.StatePending {
		t.Fatalf("List = %+v, want the second entry, pending", entries)
	}
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("batch record removed while an entry is left: %v", err)
	}

	if _, err := sp.Send(context.Background(), added[1].ID, &fakeTransport{}); err != nil {
		t.Fatal(err)
	}
	listEntries(t, sp)
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("batch record still there after its entries were sent: %v", err)
	}
}

// pacedTransport is a fakeTransport that paces: WaitTurn blocks until turn
// receives a value or ctx ends.
type pacedTransport struct {
	fakeTransport
	waiting chan struct{}
	turn    chan struct{}
}

func (p *pacedTransport) WaitTurn(ctx context.Context, env transport.Envelope) (context.Context, error) {
	p.waiting <- struct{}{}
	select {
	case <-p.turn:
		return ctx, nil
	case <-ctx.Done():
		return ctx, ctx.Err()
	}
}

func TestSendRecordsAttemptAfterTurn(t *testing.T) {
	sp := openSpool(t)
	e := addMessage(t, sp)
	pt := &pacedTransport{waiting: make(chan struct{}, 1), turn: make(chan struct{})}

	done := make(chan error, 1)
	go func() {
		_, err := sp.Send(context.Background(), e.ID, pt)
		done <- err
	}()
	<-pt.waiting
	got := listEntries(t, sp)[0]
	if got.State != spool.StatePending || got.Attempts != 0 {
		t.Errorf("entry while it waits for its turn = %+v, want pending without attempts", got)
	}
	pt.turn <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if pt.calls() != 1 {
		t.Errorf("transport got %d calls, want 1", pt.calls())
	}

	// Stopped while it waits, the entry stays as it was.
	e = addMessage(t, sp)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-pt.waiting
		cancel()
	}()
	if _, err := sp.Send(ctx, e.ID, pt); err == nil {
		t.Fatal("Send stopped while it waits for its turn succeeded")
	}
	got = listEntries(t, sp)[0]
	if got.State != spool.StatePending || got.Attempts != 0 || got.LastError != "" {
		t.Errorf("entry stopped before its turn = %+v, want pending without attempts or error", got)
	}
}

func TestOpenRemovesStaleBatchLock(t *testing.T) {
	sp := openSpool(t)
	old := time.Now().Add(-2 * spool.StaleAge)
	stale := filepath.Join(sp.Dir(), "20260101T000000Z-0000000000000001.building")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Discard()
	live := filepath.Join(sp.Dir(), b.ID()+".building")
	if err := os.Chtimes(live, old, old); err != nil {
		t.Fatal(err)
	}

	if _, err := spool.Open(sp.Dir()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the unlocked stale lock file is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the lock file of a batch being added was removed: %v", err)
	}
}

func TestRemoveFinishedBatch(t *testing.T) {
	sp := openSpool(t)
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	added := addToBatch(t, b, 2)
	record := filepath.Join(sp.Dir(), b.ID()+".batch")

	// Before the release there is no record to remove.
	if err := sp.RemoveFinishedBatch(b.ID()); err != nil {
		t.Fatalf("RemoveFinishedBatch of a batch being built: %v", err)
	}
	if err := b.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}

	// While an entry is left, the record stays, or the entry would read as
	// abandoned.
	if _, err := sp.Send(context.Background(), added[0].ID, &fakeTransport{}); err != nil {
		t.Fatal(err)
	}
	if err := sp.RemoveFinishedBatch(b.ID()); err != nil {
		t.Fatalf("RemoveFinishedBatch: %v", err)
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("the batch record is gone while an entry is left: %v", err)
	}
	if entries := listEntries(t, sp); len(entries) != 1 || entries[0].State != spool.StatePending {
		t.Errorf("entries = %+v, want the one left, pending", entries)
	}

	if _, err := sp.Send(context.Background(), added[1].ID, &fakeTransport{}); err != nil {
		t.Fatal(err)
	}
	if err := sp.RemoveFinishedBatch(b.ID()); err != nil {
		t.Fatalf("RemoveFinishedBatch: %v", err)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("the batch record of a finished batch is still there: %v", err)
	}
	if err := sp.RemoveFinishedBatch("../keyring"); err == nil {
		t.Error("RemoveFinishedBatch of an invalid ID succeeded")
	}
}

func TestRemoveLastEntryRemovesBatch(t *testing.T) {
	sp := openSpool(t)
	b, err := sp.NewBatch()
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	added := addToBatch(t, b, 2)
	if err := b.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	record := filepath.Join(sp.Dir(), b.ID()+".batch")

	if err := sp.Remove(added[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("the batch record is gone while an entry is left: %v", err)
	}
	if err := sp.Remove(added[1].ID); err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(sp.Dir()); len(names) != 0 {
		t.Errorf("the spool holds %d files after the last entry was removed, want none", len(names))
	}
}
