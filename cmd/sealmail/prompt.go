package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Every terminal prompt of sealmail reads through readPassphrase or
// readReply, so that SIGINT (Ctrl-C) and SIGTERM, which cancel the run's
// context, end each prompt at once and leave the terminal as it was.

// openTerminal opens /dev/tty, the controlling terminal, where sealmail
// prompts for passphrases and confirmations even when the standard streams
// are redirected. It reports false when the process has no terminal.
func openTerminal() (*os.File, bool) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, false
	}
	// The descriptor is used through SyscallConn, not Fd, because Fd puts
	// it in blocking mode, and then closing tty would not end a pending
	// read.
	isTerminal := false
	conn, err := tty.SyscallConn()
	if err == nil {
		err = conn.Control(func(fd uintptr) { isTerminal = term.IsTerminal(int(fd)) })
	}
	if err != nil || !isTerminal {
		tty.Close()
		return nil, false
	}
	return tty, true
}

// readPassphrase prints prompt on tty and reads a line with echo turned
// off. If ctx is cancelled first, it returns ctx.Err() at once. The echo
// state is restored on every path, and only by the calling goroutine, so
// the reading goroutine that a cancel leaves behind cannot change it later.
func readPassphrase(ctx context.Context, tty *os.File, prompt string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	restoreEcho, err := disableEcho(tty)
	if err != nil {
		return nil, fmt.Errorf("failed to turn off echo on the terminal: %w", err)
	}
	defer restoreEcho()

	fmt.Fprint(tty, prompt)
	line, err := readInterruptibly(ctx, func() ([]byte, error) { return readLine(tty) })
	// Neither the Enter that ends the line nor an interrupt was echoed.
	fmt.Fprintln(tty)
	if err != nil {
		clear(line)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("failed to read the passphrase from the terminal: %w", err)
	}
	return line, nil
}

// readReply reads a line from replies, a reader on a terminal, and returns
// it with its line break. If ctx is cancelled first, it returns
// ctx.Err() at once, and replies must not be read again.
func readReply(ctx context.Context, replies *bufio.Reader) (string, error) {
	line, err := readInterruptibly(ctx, func() (string, error) {
		line, err := replies.ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		return line, err
	})
	if err != nil {
		return "", err
	}
	return line, nil
}

// readInterruptibly calls read in a new goroutine and returns its result,
// or returns ctx.Err() as soon as ctx is cancelled. A read that ends after
// the cancel is returned with ctx.Err(), so that the caller can clear a
// secret in it. A read that never ends keeps its goroutine until the
// process exits, because a blocked read on a terminal cannot be stopped
// portably.
func readInterruptibly[T any](ctx context.Context, read func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}

	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		value, err := read()
		done <- result{value, err}
	}()

	select {
	case r := <-done:
		// When the read and the cancel race, the cancel wins, so that
		// nothing goes on after an interrupt.
		if err := ctx.Err(); err != nil {
			return r.value, err
		}
		return r.value, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// readLine reads r up to a line feed, one byte at a time so that nothing
// after the line is consumed, and returns the line without its line break.
// An end of file ends a line that is not empty.
func readLine(r io.Reader) ([]byte, error) {
	var b [1]byte
	var line []byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			switch b[0] {
			case '\n':
				return line, nil
			case '\r':
				// Dropped, as term.ReadPassword drops it.
			default:
				line = append(line, b[0])
			}
			continue
		}
		if err == io.EOF && len(line) > 0 {
			return line, nil
		}
		if err != nil {
			clear(line)
			return nil, err
		}
	}
}
