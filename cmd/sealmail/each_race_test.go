package main

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"
)

// TestEachBuildConcurrent builds every copy of send --each on every core,
// as send --each does, each into its own buffer. Run with -race
// (scripts/test does), it shows that the goroutines do not write to the
// keys they share.
func TestEachBuildConcurrent(t *testing.T) {
	ec, list := eachBenchComposer(t)
	var mu sync.Mutex
	built := make(map[string]bool)
	err := forEachIndex(context.Background(), len(list), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		var buf bytes.Buffer
		env, err := buildCopy(ctx, ec, list[i], &buf)
		if err != nil {
			return err
		}
		if !bytes.Contains(buf.Bytes(), []byte("-----BEGIN PGP MESSAGE-----")) {
			t.Errorf("the copy for %s is not encrypted", list[i].address.Address)
		}
		mu.Lock()
		defer mu.Unlock()
		built[env.Recipients[0]] = true
		return nil
	})
	if err != nil {
		t.Fatalf("forEachIndex: %v", err)
	}
	if len(built) != len(list) {
		t.Errorf("built copies for %d recipients, want %d", len(built), len(list))
	}
}
