package spacing

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestGateSpacesConcurrentRequests(t *testing.T) {
	const requests, rate = 10, 100.0
	var g Gate
	start := time.Now()
	left := make([]time.Time, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			if err := g.Wait(context.Background(), rate, 1); err != nil {
				t.Errorf("Wait: %v", err)
			}
			left[i] = time.Now()
		})
	}
	wg.Wait()

	// A timer never fires early, so the k-th request to leave left no
	// sooner than k intervals after the start, however late the others.
	slices.SortFunc(left, func(a, b time.Time) int { return a.Compare(b) })
	for k, at := range left {
		if min := time.Duration(k) * Interval(1, rate); at.Sub(start) < min {
			t.Errorf("request %d left %v after the start, want at least %v", k+1, at.Sub(start), min)
		}
	}
}

func TestGateCountsRequestBeforeRate(t *testing.T) {
	var g Gate
	start := time.Now()
	if err := g.Wait(context.Background(), 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(context.Background(), 10, 1); err != nil {
		t.Fatal(err)
	}
	// Two recipients at 10 per second hold back the next request by a
	// fifth of a second.
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("the second request left after %v, want at least 200ms", elapsed)
	}
}

func TestGateWaitCanceled(t *testing.T) {
	var g Gate
	if err := g.Wait(context.Background(), 1, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx, 1, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with a context that ends first = %v, want context.DeadlineExceeded", err)
	}
}

func TestGateKeepsKnownRate(t *testing.T) {
	var g Gate
	start := time.Now()
	if err := g.Wait(context.Background(), 10, 1); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	// A request whose rate is not known yet keeps to the rate of the one
	// before: a tenth of a second after it.
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
		t.Errorf("the second request left after %v, want at least 100ms", elapsed)
	}
}
