package compose

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

// TestWriteCopyConcurrent writes the copies of one Composer on several
// goroutines, as its doc allows, with keys no call has checked before. Run
// with -race (scripts/test does), it shows that WriteCopy does not write
// to the keys.
func TestWriteCopyConcurrent(t *testing.T) {
	p := newPeople(t, "alice", "bob", "dave")
	m := fullMessage()
	m.Cc, m.Bcc = nil, addrs("dave@example.org")
	c, err := New(context.Background(), m, Options{Signer: p.keys["alice@example.org"], Keys: p.keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			var buf bytes.Buffer
			if err := c.WriteCopy(context.Background(), &buf, n%len(c.Copies())); err != nil {
				t.Errorf("WriteCopy: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestNewConcurrentSharedKeys composes with the same keys, which no call has
// checked before, on several goroutines, as send --each does. Run with
// -race, it shows that New does not record key checks at the same time.
func TestNewConcurrentSharedKeys(t *testing.T) {
	p := newPeople(t, "alice", "bob", "carol")
	opts := Options{Signer: p.keys["alice@example.org"], Keys: p.keys}
	compose := func() error {
		m := fullMessage()
		m.To, m.Cc, m.Bcc = addrs("bob@example.org"), addrs("carol@example.org"), nil
		c, err := New(context.Background(), m, opts)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		return c.WriteCopy(context.Background(), &buf, 0)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := compose(); err != nil {
				t.Errorf("composition: %v", err)
			}
		})
	}
	wg.Wait()
}
