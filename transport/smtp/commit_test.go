package smtp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/transport"
)

func TestCommitBeforeEndOfData(t *testing.T) {
	f := startFake(t, &fakeServer{})
	tr := newPlainTransport(t, f, 0)

	var commits int
	var commandsAtCommit []string
	ctx := transport.OnCommit(context.Background(), func() error {
		commits++
		commandsAtCommit = f.Commands()
		return nil
	})
	if _, err := tr.Send(ctx, testEnvelope, strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	if commits != 1 {
		t.Errorf("commit ran %d times, want 1", commits)
	}
	// The fake records "<data>" once it read the final dot.
	if len(commandsAtCommit) == 0 || commandsAtCommit[len(commandsAtCommit)-1] != "DATA" {
		t.Errorf("commands when the commit ran = %q, want DATA last, before the end of the data", commandsAtCommit)
	}
	if !tr.ReportsCommit() {
		t.Error("ReportsCommit = false, want true")
	}
}

func TestCommitErrorSendsNothing(t *testing.T) {
	f := startFake(t, &fakeServer{})
	tr := newPlainTransport(t, f, 0)

	failure := errors.New("disk full")
	ctx := transport.OnCommit(context.Background(), func() error { return failure })
	_, err := tr.Send(ctx, testEnvelope, strings.NewReader(testMessage))
	var sendErr *SendError
	if !errors.As(err, &sendErr) || !errors.Is(err, failure) {
		t.Fatalf("Send with a failing commit = %v, want a *SendError wrapping its error", err)
	}
	if !sendErr.Temporary() || sendErr.Uncertain {
		t.Errorf("Temporary = %v and Uncertain = %v, want true and false", sendErr.Temporary(), sendErr.Uncertain)
	}
	if !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("error %q does not say that nothing was sent", err)
	}
	if n := len(f.Messages()); n != 0 {
		t.Errorf("server accepted %d messages, want 0", n)
	}
	if slices.Contains(f.Commands(), "<data>") {
		t.Errorf("server received the end of the data: %q", f.Commands())
	}
}

func TestCanceledBeforeCommitIsInterrupted(t *testing.T) {
	tests := []struct {
		name string
		wrap func(context.Context) context.Context
	}{
		{"plain context", func(ctx context.Context) context.Context { return ctx }},
		// The grace of FinishInFlight starts only at the commit point.
		{"FinishInFlight", func(ctx context.Context) context.Context { return transport.FinishInFlight(ctx, time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, &fakeServer{silent: true, connected: make(chan struct{}, 1)})
			tr := newPlainTransport(t, f, 0)
			tr.opts.ConnectTimeout = time.Hour

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-f.connected
				cancel()
			}()
			committed := false
			ctx = transport.OnCommit(tt.wrap(ctx), func() error {
				committed = true
				return nil
			})
			_, err := tr.Send(ctx, testEnvelope, strings.NewReader(testMessage))

			var sendErr *SendError
			if !errors.As(err, &sendErr) || !errors.Is(err, context.Canceled) {
				t.Fatalf("Send canceled before the greeting = %v, want a *SendError wrapping context.Canceled", err)
			}
			if !sendErr.Interrupted || !sendErr.Temporary() || sendErr.Uncertain {
				t.Errorf("Interrupted = %v, Temporary = %v, Uncertain = %v, want true, true, false", sendErr.Interrupted, sendErr.Temporary(), sendErr.Uncertain)
			}
			if !strings.Contains(err.Error(), "interrupted, nothing was sent") || strings.Contains(err.Error(), "closed network connection") {
				t.Errorf("error %q, want \"interrupted, nothing was sent\" without the closed connection it caused", err)
			}
			if committed {
				t.Error("commit ran, want it only once the message data is sent")
			}
		})
	}
}

func TestCanceledAfterCommitIsUncertain(t *testing.T) {
	f := startFake(t, &fakeServer{stallEnd: true, dataReceived: make(chan struct{}, 1)})
	tr := newPlainTransport(t, f, 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.dataReceived
		cancel()
	}()
	_, err := tr.Send(ctx, testEnvelope, strings.NewReader(testMessage))
	var sendErr *SendError
	if !errors.As(err, &sendErr) || !sendErr.Uncertain || sendErr.Temporary() || sendErr.Interrupted {
		t.Fatalf("Send canceled after the end of the data = %v, want an uncertain *SendError", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "may have accepted the message") || strings.Contains(err.Error(), "closed network connection") {
		t.Errorf("error %q does not say that the server may have accepted the message, or shows the socket error", err)
	}
}

func TestQuitReplyNotAwaited(t *testing.T) {
	f := startFake(t, &fakeServer{stallQuit: true})
	tr := newPlainTransport(t, f, 0)
	// Without a deadline of its own, QUIT would wait this long.
	tr.opts.CommandTimeout = 2 * time.Minute

	done := make(chan error, 1)
	go func() {
		_, err := tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Send to a server that never replies to QUIT: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Send waited more than a minute for the reply to QUIT after the server accepted the message")
	}
}
