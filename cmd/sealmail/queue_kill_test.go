package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/mailpit"
	"github.com/sealmail/sealmail/transport/spool"
)

// stallServer is a plain SMTP server on 127.0.0.1 that stalls at one point
// of the session, so that a test can kill sealmail there. At "greeting" it
// sends no greeting. At "end" it reads the whole message data, final dot
// included, and sends no reply to it. It never accepts a message, and a
// stalled session ends when the client closes the connection.
type stallServer struct {
	port     int
	stallAt  string
	reached  chan struct{}
	listener net.Listener

	mu       sync.Mutex
	received int
}

func startStallServer(t *testing.T, stallAt string) *stallServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallServer{port: l.Addr().(*net.TCPAddr).Port, stallAt: stallAt, reached: make(chan struct{}, 16), listener: l}
	serveEach(t, l, s.serve, func() {})
	return s
}

// serveEach serves every connection that l accepts with serve, each on its
// own goroutine. The test's cleanup closes l, calls stop to release the
// handlers, and waits for them.
func serveEach(t *testing.T, l net.Listener, serve func(net.Conn), stop func()) {
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		stop()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				serve(conn)
			})
		}
	})
}

func (s *stallServer) serve(conn net.Conn) {
	r := bufio.NewReader(conn)
	reply := func(line string) { fmt.Fprintf(conn, "%s\r\n", line) }
	stall := func() {
		s.reached <- struct{}{}
		io.Copy(io.Discard, r)
	}

	if s.stallAt == "greeting" {
		stall()
		return
	}
	reply("220 stall.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "EHLO":
			reply("250-stall.test")
			reply("250 8BITMIME")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.received++
			s.mu.Unlock()
			stall()
			return
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			reply("250 2.0.0 Ok")
		}
	}
}

// messagesReceived returns the number of messages whose data, final dot
// included, the server read.
func (s *stallServer) messagesReceived() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// plainSMTPArgs are the arguments of a send over plain SMTP to port on
// 127.0.0.1, to Bob, and to Carol as Bcc, with subject. The subject stays in
// the outer header, where mailpit lists it, because the tests tell the
// messages apart by it.
func plainSMTPArgs(files string, port int, subject string) []string {
	return []string{"send", "--via", "smtp", "--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(port), "--smtp-tls", "none",
		"--from", "alice@example.org", "--to", "bob@example.org", "--bcc", "carol@example.org",
		"--subject", subject, "--text", filepath.Join(files, "body.txt"), "--no-header-protection"}
}

// mailpitDelivery is one message mailpit stored: its subject and the
// envelope recipient it went to.
type mailpitDelivery struct {
	subject, recipient string
}

// mailpitDeliveries counts the messages mailpit stored by subject and
// envelope recipient. The Bcc copy is the one whose envelope recipient no
// header field names, which mailpit lists as Bcc.
func mailpitDeliveries(t *testing.T, server *mailpit.Server) map[mailpitDelivery]int {
	t.Helper()
	resp, err := http.Get(server.URL + "/api/v1/messages?limit=1000")
	if err != nil {
		t.Fatalf("failed to list the mailpit messages: %v", err)
	}
	defer resp.Body.Close()
	var list struct {
		Messages []struct {
			Subject string
			To, Bcc []struct{ Address string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("failed to decode the mailpit message list: %v", err)
	}
	counts := make(map[mailpitDelivery]int)
	for _, m := range list.Messages {
		recipients := m.To
		if len(m.Bcc) > 0 {
			recipients = m.Bcc
		}
		for _, r := range recipients {
			counts[mailpitDelivery{m.Subject, r.Address}]++
		}
	}
	return counts
}

// startKilled starts a sealmail process in home and kills it with SIGKILL
// once reached receives a value, or fails the test after a minute.
func startKilled(t *testing.T, home string, reached <-chan struct{}, args ...string) {
	t.Helper()
	cmd, _, stderr := sealmailCommand(t, home, nil, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sealmail did not reach the stalling server within a minute; stderr:\n%s", stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// entriesByState returns the queue entries of home by state.
func entriesByState(t *testing.T, home string) map[spool.State][]spool.Entry {
	t.Helper()
	byState := make(map[spool.State][]spool.Entry)
	for _, e := range queueEntries(t, home) {
		byState[e.State] = append(byState[e.State], e)
	}
	return byState
}

func TestQueueKilledBeforeCommitSentOnce(t *testing.T) {
	stalling := startStallServer(t, "greeting")
	server := mailpit.Start(t, mailpit.Options{TLS: mailpit.NoTLS})
	home, files, _, _, _ := e2eSetup(t)

	startKilled(t, home, stalling.reached, plainSMTPArgs(files, stalling.port, "Before")...)
	byState := entriesByState(t, home)
	if len(byState[spool.StateInterrupted]) != 1 || len(byState[spool.StatePending]) != 1 || len(byState) != 2 {
		t.Fatalf("entries after a kill before the greeting = %v, want one interrupted and one pending", byState)
	}

	// The flush goes to mailpit with the port given in place of the
	// recorded one, and sends each copy once.
	status, stdout, stderr := runSealmail(t, home, nil, "queue", "flush", "--smtp-port", strconv.Itoa(server.SMTPPort))
	if status != 0 {
		t.Fatalf("queue flush: exit status %d; stderr:\n%s", status, stderr)
	}
	if n := strings.Count(stdout, "sent entry"); n != 2 {
		t.Errorf("queue flush reported %d entries sent, want 2:\n%s", n, stdout)
	}
	got := mailpitDeliveries(t, server)
	for _, rcpt := range []string{"bob@example.org", "carol@example.org"} {
		if n := got[mailpitDelivery{"Before", rcpt}]; n != 1 {
			t.Errorf("mailpit holds %d copies for %s, want 1", n, rcpt)
		}
	}
	if n := stalling.messagesReceived(); n != 0 {
		t.Errorf("the stalling server read %d messages, want 0", n)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("the queue holds %d entries after the flush, want 0", len(entries))
	}
}

func TestQueueKilledAfterCommitNeedsRetry(t *testing.T) {
	stalling := startStallServer(t, "end")
	server := mailpit.Start(t, mailpit.Options{TLS: mailpit.NoTLS})
	home, files, _, _, _ := e2eSetup(t)

	startKilled(t, home, stalling.reached, plainSMTPArgs(files, stalling.port, "After")...)
	byState := entriesByState(t, home)
	unconfirmed := byState[spool.StateUnconfirmed]
	if len(unconfirmed) != 1 || len(byState[spool.StatePending]) != 1 || len(byState) != 2 {
		t.Fatalf("entries after a kill at the end of the data = %v, want one unconfirmed and one pending", byState)
	}
	if n := stalling.messagesReceived(); n != 1 {
		t.Fatalf("the stalling server read %d messages, want the 1 it then stalled on", n)
	}
	id := unconfirmed[0].ID

	status, stdout, _ := runSealmail(t, home, nil, "queue", "list")
	if status != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "unconfirmed: sealmail stopped after the message data went to the transport") {
		t.Errorf("queue list: exit status %d, want 0 and the unconfirmed entry %s explained:\n%s", status, id, stdout)
	}

	// The flush sends the pending Bcc copy and leaves the unconfirmed one.
	port := strconv.Itoa(server.SMTPPort)
	status, _, stderr := runSealmail(t, home, nil, "queue", "flush", "--smtp-port", port)
	if status != 1 || !strings.Contains(stderr, "1 message(s) still in the queue") {
		t.Errorf("queue flush: exit status %d, want 1 for the unconfirmed entry; stderr:\n%s", status, stderr)
	}
	got := mailpitDeliveries(t, server)
	if n := got[mailpitDelivery{"After", "bob@example.org"}]; n != 0 {
		t.Errorf("after the flush, mailpit holds %d copies for Bob, whose copy is unconfirmed; want 0", n)
	}
	if n := got[mailpitDelivery{"After", "carol@example.org"}]; n != 1 {
		t.Errorf("after the flush, mailpit holds %d copies for Carol, want 1", n)
	}

	// Named by ID, with the port after it, the entry is sent with a
	// warning.
	status, stdout, stderr = runSealmail(t, home, nil, "queue", "retry", id, "--smtp-port", port)
	if status != 0 {
		t.Fatalf("queue retry %s: exit status %d; stderr:\n%s", id, status, stderr)
	}
	if !strings.Contains(stderr, "may have been accepted already") {
		t.Errorf("queue retry did not warn that the entry may have been accepted; stderr:\n%s", stderr)
	}
	if !strings.Contains(stdout, "sent entry "+id) {
		t.Errorf("queue retry does not report the entry as sent:\n%s", stdout)
	}
	if n := mailpitDeliveries(t, server)[mailpitDelivery{"After", "bob@example.org"}]; n != 1 {
		t.Errorf("after the retry, mailpit holds %d copies for Bob, want 1", n)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("the queue holds %d entries after the retry, want 0", len(entries))
	}
}

// subjectOfEntry returns the Subject header field of a queue entry's
// message.
func subjectOfEntry(t *testing.T, home, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Subject: (.*)\r$`).FindSubmatch(spooledMessage(t, home, id))
	if m == nil {
		t.Fatalf("the message of entry %s has no Subject", id)
	}
	return string(m[1])
}

func TestQueueRandomKillsOverSMTP(t *testing.T) {
	server := mailpit.Start(t, mailpit.Options{TLS: mailpit.NoTLS})
	home, files, _, _, _ := e2eSetup(t)
	recipients := []string{"bob@example.org", "carol@example.org"}

	// One send that runs to its end gives the range of the kill times.
	start := time.Now()
	if status, _, stderr := runSealmail(t, home, nil, plainSMTPArgs(files, server.SMTPPort, "Kill 0")...); status != 0 {
		t.Fatalf("send: exit status %d; stderr:\n%s", status, stderr)
	}
	duration := time.Since(start)

	const kills = 20
	for i := 1; i <= kills; i++ {
		cmd, _, _ := sealmailCommand(t, home, nil, plainSMTPArgs(files, server.SMTPPort, fmt.Sprintf("Kill %d", i))...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(duration))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}

	// The states tell where each kill landed: a copy whose entry is
	// unconfirmed may have reached mailpit, and no other copy left in the
	// queue did.
	before := mailpitDeliveries(t, server)
	queued := make(map[mailpitDelivery]spool.State)
	states := make(map[spool.State]int)
	for _, e := range queueEntries(t, home) {
		queued[mailpitDelivery{subjectOfEntry(t, home, e.ID), e.Envelope.Recipients[0]}] = e.State
		states[e.State]++
	}
	t.Logf("after %d kills: queue entries by state %v", kills, states)
	for key, state := range queued {
		switch state {
		case spool.StatePending, spool.StateInterrupted:
			if n := before[key]; n != 0 {
				t.Errorf("%v: entry %s, and mailpit holds %d copies; want none", key, state, n)
			}
		case spool.StateUnconfirmed, spool.StateAccepted:
		default:
			t.Errorf("%v: entry in state %s after the kills", key, state)
		}
	}

	status, _, stderr := runSealmail(t, home, nil, "queue", "flush")
	if want := min(states[spool.StateUnconfirmed], 1); status != want {
		t.Errorf("queue flush with %d unconfirmed entries: exit status %d, want %d; stderr:\n%s", states[spool.StateUnconfirmed], status, want, stderr)
	}

	// The copies of one message go to all its recipients or to none, and
	// no recipient gets one twice.
	after := mailpitDeliveries(t, server)
	var whole, none int
	defer func() { t.Logf("after the flush: %d messages sent to every recipient, %d to none", whole, none) }()
	for i := 0; i <= kills; i++ {
		subject := fmt.Sprintf("Kill %d", i)
		var sent, pendingWithUser int
		for _, rcpt := range recipients {
			key := mailpitDelivery{subject, rcpt}
			state, inQueue := queued[key]
			switch n := after[key]; {
			case n > 1:
				t.Errorf("%v: mailpit holds %d copies, want at most 1", key, n)
			case inQueue && state == spool.StateUnconfirmed:
				// The user decides, after checking with the recipient.
				if n != before[key] {
					t.Errorf("%v (unconfirmed): the flush sent it", key)
				}
				pendingWithUser++
			case n == 1:
				sent++
			}
		}
		switch {
		case sent == len(recipients):
			whole++
		case sent == 0 && pendingWithUser == 0:
			none++
		case sent+pendingWithUser != len(recipients):
			t.Errorf("%s: %d of %d recipients got the message, and %d copies wait for the user; want all or none", subject, sent, len(recipients), pendingWithUser)
		}
	}
	if left := queueEntries(t, home); len(left) != states[spool.StateUnconfirmed] {
		t.Errorf("the queue holds %d entries after the flush, want the %d unconfirmed", len(left), states[spool.StateUnconfirmed])
	}
}

func TestSendInterruptedDuringSetup(t *testing.T) {
	stalling := startStallServer(t, "greeting")
	server := mailpit.Start(t, mailpit.Options{TLS: mailpit.NoTLS})
	home, files, _, _, _ := e2eSetup(t)

	cmd, _, stderr := sealmailCommand(t, home, nil, plainSMTPArgs(files, stalling.port, "Setup")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalling.reached:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("send did not connect within a minute; stderr:\n%s", stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// Both copies were certainly not accepted, so both stay pending.
	if status := cmd.ProcessState.ExitCode(); status != 1 {
		t.Errorf("send stopped by SIGINT: exit status %d, want 1 for several copies; stderr:\n%s", status, stderr)
	}
	for _, want := range []string{"interrupted, nothing was sent", "pending: \"sealmail queue flush\" sends it again"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	entries := queueEntries(t, home)
	if len(entries) != 2 {
		t.Fatalf("the queue holds %d entries, want 2", len(entries))
	}
	for _, e := range entries {
		if e.State != spool.StatePending || !e.Due() {
			t.Errorf("entry %s to %v is %s, want pending and due", e.ID, e.Envelope.Recipients, e.State)
		}
	}

	status, _, errOut := runSealmail(t, home, nil, "queue", "flush", "--smtp-port", strconv.Itoa(server.SMTPPort))
	if status != 0 {
		t.Fatalf("queue flush: exit status %d; stderr:\n%s", status, errOut)
	}
	got := mailpitDeliveries(t, server)
	for _, rcpt := range []string{"bob@example.org", "carol@example.org"} {
		if n := got[mailpitDelivery{"Setup", rcpt}]; n != 1 {
			t.Errorf("mailpit holds %d copies for %s, want 1", n, rcpt)
		}
	}
}
