//go:build unix

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/tlstest"
)

// stallingSMTP is an SMTP server with STARTTLS that holds its reply to one
// command of the first transaction until the test releases it, so that a
// signal reaches sealmail while a copy is on its way.
type stallingSMTP struct {
	t        *testing.T
	listener net.Listener
	config   *tls.Config
	// stallAt is "MAIL" (the reply to MAIL FROM) or "." (the reply after
	// the message data).
	stallAt string
	// reply is the reply sent once the stall is released.
	reply string

	stalled  chan struct{} // closed when the stall starts
	released chan struct{} // closed by the test to send reply
	once     sync.Once
}

// startStallingSMTP starts the server on 127.0.0.1 with a certificate of a
// new CA, whose PEM it returns.
func startStallingSMTP(t *testing.T, stallAt, reply string) (server *stallingSMTP, caPEM []byte) {
	t.Helper()
	ca := tlstest.NewCA(t, "sealmail test CA")
	cert := ca.Issue(t, "127.0.0.1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server = &stallingSMTP{
		t:        t,
		listener: l,
		config:   &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12},
		stallAt:  stallAt,
		reply:    reply,
		stalled:  make(chan struct{}),
		released: make(chan struct{}),
	}
	serveEach(t, l, server.serve, server.release)
	return server, ca.PEM
}

// port returns the port the server listens on.
func (s *stallingSMTP) port() int { return s.listener.Addr().(*net.TCPAddr).Port }

// release lets the stalled reply go.
func (s *stallingSMTP) release() {
	select {
	case <-s.released:
	default:
		close(s.released)
	}
}

// serve runs one session: greeting, EHLO, STARTTLS, and a mail transaction
// whose replies are 250 except for the stalled one.
func (s *stallingSMTP) serve(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	write := func(reply string) bool {
		_, err := fmt.Fprintf(conn, "%s\r\n", reply)
		return err == nil
	}
	// stall holds the reply to command in the first transaction.
	stall := func(command, ok string) bool {
		held := false
		if command == s.stallAt {
			s.once.Do(func() {
				held = true
				close(s.stalled)
				<-s.released
			})
		}
		if held {
			return write(s.reply)
		}
		return write(ok)
	}

	secure := false
	write("220 stalling ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" && !secure:
			write("250-stalling\r\n250 STARTTLS")
		case verb == "EHLO":
			write("250 stalling")
		case verb == "STARTTLS":
			write("220 2.0.0 ready")
			tlsConn := tls.Server(conn, s.config)
			if tlsConn.Handshake() != nil {
				return
			}
			conn, r, secure = tlsConn, bufio.NewReader(tlsConn), true
		case verb == "MAIL":
			if !stall("MAIL", "250 2.1.0 ok") {
				return
			}
		case verb == "DATA":
			write("354 go ahead")
			for {
				data, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if data == ".\r\n" {
					break
				}
			}
			if !stall(".", fmt.Sprintf("250 2.0.0 ok: queued as Q%d", time.Now().UnixNano())) {
				return
			}
		case verb == "QUIT":
			write("221 2.0.0 bye")
			return
		default:
			write("250 2.0.0 ok")
		}
	}
}

// TestSendmailSignal stops sendmail with a signal while the first of two
// copies is on its way. The copy in flight gets its reply, the other is not
// sent, the exit status is the signal's, and the report and the queue
// agree: a message sent in part keeps the rest queued, and a message not
// sent at all leaves nothing queued, so that its caller can send it again.
func TestSendmailSignal(t *testing.T) {
	exe, err := exec.LookPath("sealmail")
	if err != nil {
		t.Fatalf("testscript.Main put no sealmail command on PATH: %v", err)
	}
	tests := []struct {
		name     string
		stallAt  string
		reply    string
		signal   syscall.Signal
		status   int
		want     []string
		spoolLen int
	}{
		{"accepted in flight", ".", "250 2.0.0 ok: queued as INFLIGHT", syscall.SIGTERM, 143,
			[]string{"interrupted: the message was sent in part", "accepted:   copy for bob@example.org, message ID INFLIGHT", "kept in the queue as", "sealmail queue retry"}, 3},
		// Before the end of the message data, the session may stop at
		// once or get the reply; either way nothing was accepted.
		{"interrupted before the data", "MAIL", "451 4.3.0 try again later", syscall.SIGINT, 130,
			[]string{"interrupted: nothing was sent, and nothing is left in the queue, so send the message again", "not started, because sealmail was interrupted first"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, caPEM := startStallingSMTP(t, tt.stallAt, tt.reply)
			home, files, _, _, _ := e2eSetup(t)
			caFile := filepath.Join(files, "ca.pem")
			if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			config := fmt.Sprintf("via = \"smtp\"\n[smtp]\nhost = \"127.0.0.1\"\nport = %d\ntls = \"starttls\"\nca_file = %q\n", server.port(), caFile)
			if err := os.WriteFile(filepath.Join(home, configFileName), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(exe, "--home", home, "sendmail", "-t")
			cmd.Stdin = strings.NewReader(sendmailMessage)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			select {
			case <-server.stalled:
			case err := <-done:
				t.Fatalf("sealmail exited before the server held its reply: %v\n%s", err, stderr.String())
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the server saw no %s within 30s", tt.stallAt)
			}
			if err := cmd.Process.Signal(tt.signal); err != nil {
				t.Fatal(err)
			}
			// The reply goes out after sealmail received the signal, so
			// that it reaches a copy in flight.
			time.Sleep(300 * time.Millisecond)
			server.release()

			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("sealmail still runs 30s after the signal:\n%s", stderr.String())
			}
			if got := cmd.ProcessState.ExitCode(); got != tt.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, tt.status, stderr.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
			// Each entry is a message file and its record, beside the record of
			// the batch that the copies of the message were queued in.
			if files := spoolFiles(t, home); len(files) != tt.spoolLen {
				t.Errorf("the spool holds %q, want %d files", files, tt.spoolLen)
			}
		})
	}
}
