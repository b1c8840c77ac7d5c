package transport_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
)

func TestCommitCallsOnce(t *testing.T) {
	calls := 0
	ctx := transport.OnCommit(context.Background(), func() error {
		calls++
		return nil
	})
	for range 3 {
		if err := transport.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	if calls != 1 {
		t.Errorf("the function of OnCommit ran %d times, want 1", calls)
	}
}

func TestCommitKeepsError(t *testing.T) {
	failure := errors.New("disk full")
	calls := 0
	ctx := transport.OnCommit(context.Background(), func() error {
		calls++
		return failure
	})
	for range 2 {
		if err := transport.Commit(ctx); !errors.Is(err, failure) {
			t.Errorf("Commit = %v, want the error of the function", err)
		}
	}
	if calls != 1 {
		t.Errorf("the function of OnCommit ran %d times, want 1", calls)
	}
}

func TestCommitWithoutOnCommit(t *testing.T) {
	if err := transport.Commit(context.Background()); err != nil {
		t.Errorf("Commit without OnCommit = %v, want nil", err)
	}
}

func TestCommitAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	called := false
	ctx = transport.OnCommit(ctx, func() error {
		called = true
		return nil
	})
	cancel()
	if err := transport.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel = %v, want context.Canceled", err)
	}
	if called {
		t.Error("the function of OnCommit ran after the context ended")
	}
}

func TestDetachInFlightStopsBeforeCommit(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, stop, err := transport.DetachInFlight(transport.FinishInFlight(parent, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the detached context did not end with its parent before the commit point")
	}
	if err := transport.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after the stop = %v, want context.Canceled", err)
	}
}

func TestDetachInFlightGraceAfterCommit(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, stop, err := transport.DetachInFlight(transport.FinishInFlight(parent, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := transport.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}

	cancel()
	select {
	case <-ctx.Done():
		t.Fatal("the detached context ended with its parent after the commit point, want the grace period")
	case <-time.After(50 * time.Millisecond):
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the detached context did not end after the grace period")
	}
}

func TestDetachInFlightAfterStop(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := transport.DetachInFlight(transport.FinishInFlight(parent, time.Minute)); !errors.Is(err, context.Canceled) {
		t.Errorf("DetachInFlight of an ended context = %v, want context.Canceled", err)
	}
}

// setupFailure is an error whose SetupFailed method returns failed.
type setupFailure struct{ failed bool }

func (e setupFailure) Error() string     { return "setup" }
func (e setupFailure) SetupFailed() bool { return e.failed }

func TestSetupFailed(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("refused"), false},
		{"setup failed", setupFailure{failed: true}, true},
		{"setup failed, wrapped", fmt.Errorf("send: %w", setupFailure{failed: true}), true},
		{"setup passed", setupFailure{failed: false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transport.SetupFailed(tt.err); got != tt.want {
				t.Errorf("SetupFailed(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
