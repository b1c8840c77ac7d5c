package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sealmail/sealmail/transport"
)

// Batch is a group of entries that stay held until [Batch.Release] releases
// them all at once, as the package documentation describes. Its methods are
// safe for concurrent use.
type Batch struct {
	spool *Spool
	id    string

	// mu is held for reading by each Add and for writing by Release and
	// Discard, so that no entry is added after the batch record was written.
	mu sync.RWMutex
	// lock is the open ID.building file, which carries the flock that
	// shows the batch is still being added.
	lock   *os.File
	closed bool

	// idsMu guards ids, which Adds running at once append to.
	idsMu sync.Mutex
	ids   []string
}

// batchRecord is the content of the ID.batch file that releases a batch.
type batchRecord struct {
	ID       string    `json:"id"`
	Released time.Time `json:"released"`
	// Entries are the IDs of every entry of the batch, so that the record
	// is removed only once none of them is left.
	Entries []string `json:"entries"`
}

// NewBatch starts a batch and locks its ID.building file until the batch is
// released or discarded, or the process ends.
func (s *Spool) NewBatch() (*Batch, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	path := s.buildingPath(id)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to start a batch in spool %q: %w", s.dir, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("failed to lock batch %s: %w", id, err)
	}
	return &Batch{spool: s, id: id, lock: f}, nil
}

// ID returns the ID of the batch, which each of its entries records.
func (b *Batch) ID() string { return b.id }

// Add stores a message as [Spool.Add] does, as an entry of the batch that
// stays held until the batch is released.
func (b *Batch) Add(env transport.Envelope, raw io.Reader, meta Meta) (Entry, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return Entry{}, fmt.Errorf("failed to add to batch %s: it was already released or discarded", b.id)
	}
	e, err := b.spool.add(env, raw, meta, b.id)
	if err != nil {
		return Entry{}, err
	}

	b.idsMu.Lock()
	b.ids = append(b.ids, e.ID)
	b.idsMu.Unlock()
	return e, nil
}

// Release releases every entry of the batch at once, by writing the batch
// record atomically, and then gives up the lock of the batch. From then on
// the entries are pending entries like any other.
func (b *Batch) Release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("failed to release batch %s: it was already released or discarded", b.id)
	}

	rec := batchRecord{ID: b.id, Released: time.Now().UTC(), Entries: b.ids}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode the record of batch %s: %w", b.id, err)
	}
	if err := writeFileAtomic(b.spool.batchPath(b.id), append(data, '\n')); err != nil {
		return fmt.Errorf("failed to release batch %s: %w", b.id, err)
	}
	b.closed = true
	b.unlock()
	return nil
}

// Discard removes every entry the batch added, none of which was sent,
// and gives up the lock of the batch. It returns the first error of a
// removal. An entry it could not remove is removed by a later
// [Spool.List], once this process has ended.
func (b *Batch) Discard() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true

	var first error
	for _, id := range b.ids {
		if err := b.spool.Remove(id); err != nil && !errors.Is(err, ErrNotFound) && first == nil {
			first = err
		}
	}
	b.unlock()
	return first
}

// unlock removes the ID.building file and releases its lock, in that
// order, so that no other process takes the lock of a file being removed.
func (b *Batch) unlock() {
	os.Remove(b.spool.buildingPath(b.id))
	unlock(b.lock)
	b.lock.Close()
}

// batchState is the stage of a batch as another process observes it from
// the lock and the batch record.
type batchState int

const (
	batchReleased batchState = iota
	// batchBuilding means the process adding the batch holds its lock.
	batchBuilding
	// batchAbandoned means the process died before the release.
	batchAbandoned
)

// batchState returns the stage of the batch with the given ID.
func (s *Spool) batchState(id string) batchState {
	// The lock is tested before the record: Release writes the record
	// before it gives up the lock, so a lock found free and no record
	// after it mean that the process died. Entries are added only while
	// the lock is held, so a batch with entries was locked once.
	building := s.buildingLocked(id)
	_, err := os.Stat(s.batchPath(id))
	switch {
	case err == nil:
		return batchReleased
	case building || !errors.Is(err, fs.ErrNotExist):
		// An entry is never removed because of a file that could
		// not be read.
		return batchBuilding
	}
	return batchAbandoned
}

// buildingLocked reports whether a process holds the lock of the batch. It
// reports true when that cannot be determined, so that no entry is removed
// on a doubt.
func (s *Spool) buildingLocked(id string) bool {
	f, err := os.Open(s.buildingPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		return true
	}
	unlock(f)
	return false
}

// removeHeld removes a held entry whose batch was abandoned, under the lock
// of the entry.
func (s *Spool) removeHeld(id string) {
	c, err := s.claim(id, false)
	if err != nil {
		return
	}
	defer c.Release()
	if c.entry.State == StateHeld && s.batchState(c.entry.Batch) == batchAbandoned {
		c.Remove()
	}
}

// RemoveFinishedBatch removes the record of the released batch with the
// given ID once none of its entries is left, so that a caller that sent
// them all leaves an empty spool. While an entry is left, it does nothing.
func (s *Spool) RemoveFinishedBatch(id string) error {
	if !validID(id) {
		return fmt.Errorf("invalid batch ID %q", id)
	}
	path := s.batchPath(id)
	if !s.batchFinished(path) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove the record of batch %s: %w", id, err)
	}
	return nil
}

// removeFinishedBatches removes the records of batches older than StaleAge
// whose entries are all gone. names is the listing of the spool folder, and
// referenced contains the batches of the entries in it.
func (s *Spool) removeFinishedBatches(names []fs.DirEntry, referenced map[string]batchState) {
	for _, d := range names {
		id, ok := strings.CutSuffix(d.Name(), ".batch")
		if !ok || !validID(id) {
			continue
		}
		if _, ok := referenced[id]; ok {
			continue
		}
		path := filepath.Join(s.dir, d.Name())
		info, err := os.Stat(path)
		if err != nil || time.Since(info.ModTime()) < StaleAge {
			continue
		}
		if s.batchFinished(path) {
			os.Remove(path)
		}
	}
}

// batchFinished reports whether the batch record at path lists no entry
// that still has a record. It reports false when that cannot be determined,
// so that no record is removed on a doubt: a held entry without its batch
// record counts as abandoned and is removed.
func (s *Spool) batchFinished(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var rec batchRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return false
	}
	// A listing of the folder may be older than the entries, so each
	// entry is looked for again.
	for _, entry := range rec.Entries {
		if !validID(entry) {
			return false
		}
		if _, err := os.Stat(s.recordPath(entry)); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

func (s *Spool) batchPath(id string) string    { return filepath.Join(s.dir, id+".batch") }
func (s *Spool) buildingPath(id string) string { return filepath.Join(s.dir, id+".building") }
