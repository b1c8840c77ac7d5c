package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/mailpit"
	"github.com/sealmail/sealmail/internal/sesemu"
	"github.com/sealmail/sealmail/transport/spool"
)

// sesEndpoint is a fake SES endpoint on 127.0.0.1 whose response the test
// chooses: record (accept and keep the raw message), block (never respond),
// quota (a spent daily quota, which a retry can help) or reject
// (MessageRejected, which it cannot).
type sesEndpoint struct {
	mu   sync.Mutex
	mode string
	// delay is how long a recorded request waits for its response.
	delay time.Duration
	// accepted contains the requests that got a success response, and
	// blocked those that got no response.
	accepted []sendRequest
	blocked  []sendRequest
	requests int
	started  chan struct{}
}

func newSESEndpoint(t *testing.T, mode string) (*sesEndpoint, *httptest.Server) {
	t.Helper()
	ep := &sesEndpoint{mode: mode, started: make(chan struct{}, 16)}
	server := httptest.NewServer(ep)
	t.Cleanup(server.Close)
	return ep, server
}

func (ep *sesEndpoint) setMode(mode string, delay time.Duration) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.mode, ep.delay = mode, delay
}

// counts returns the number of requests, of accepted and of blocked ones.
func (ep *sesEndpoint) counts() (requests, accepted, blocked int) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.requests, len(ep.accepted), len(ep.blocked)
}

func (ep *sesEndpoint) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v2/email/outbound-emails" {
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(req.Body)
	var sr sendRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	ep.mu.Lock()
	ep.requests++
	mode, delay := ep.mode, ep.delay
	if mode == "block" {
		ep.blocked = append(ep.blocked, sr)
	}
	ep.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	switch mode {
	case "block":
		ep.started <- struct{}{}
		<-req.Context().Done()
	case "quota":
		w.Header().Set("X-Amzn-ErrorType", "LimitExceededException")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":"Daily message quota exceeded."}`)
	case "reject":
		w.Header().Set("X-Amzn-ErrorType", "MessageRejected")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":"Email address is not verified."}`)
	default:
		time.Sleep(delay)
		ep.mu.Lock()
		ep.accepted = append(ep.accepted, sr)
		n := len(ep.accepted)
		ep.mu.Unlock()
		fmt.Fprintf(w, `{"MessageId":"queued-%d"}`, n)
	}
}

// sealmailCommand returns a sealmail process in home. The binary is this
// test binary, which testscript's TestMain puts on PATH as "sealmail" and
// which then runs main.
func sealmailCommand(t *testing.T, home string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	bin, err := exec.LookPath("sealmail")
	if err != nil {
		t.Fatalf("sealmail is not on PATH: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// runSealmail runs a sealmail process in home and returns its exit status
// and output.
func runSealmail(t *testing.T, home string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd, stdout, stderr := sealmailCommand(t, home, env, args...)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("sealmail %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// queueEntries returns the entries "queue list --json" prints.
func queueEntries(t *testing.T, home string) []spool.Entry {
	t.Helper()
	status, stdout, stderr := runSealmail(t, home, nil, "queue", "list", "--json")
	if status != 0 {
		t.Fatalf("queue list --json: exit status %d: %s", status, stderr)
	}
	var entries []spool.Entry
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
		t.Fatalf("queue list --json printed invalid JSON: %v\n%s", err, stdout)
	}
	return entries
}

// spooledMessage returns the stored bytes of a queue entry.
func spooledMessage(t *testing.T, home, id string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, "spool", id+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sendArgs are the arguments of a send through the endpoint at url to Bob,
// and to Carol as Bcc when bcc is set.
func sendArgs(files, url string, bcc bool) []string {
	args := []string{"send", "--via", "ses", "--region", "eu-west-1", "--endpoint-url", url,
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Figures",
		"--text", filepath.Join(files, "body.txt")}
	if bcc {
		args = append(args, "--bcc", "carol@example.org")
	}
	return args
}

func TestQueueKilledAfterCommitNotFlushed(t *testing.T) {
	ep, server := newSESEndpoint(t, "block")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	cmd, _, stderr := sealmailCommand(t, home, nil, sendArgs(files, server.URL, true)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ep.started:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("send never reached the endpoint; stderr:\n%s", stderr)
	}

	// Both copies are in the spool before the first request, and the one
	// whose request body reached the endpoint is submitted and locked.
	entries := queueEntries(t, home)
	if len(entries) != 2 {
		t.Fatalf("spool holds %d entries while the first request waits, want 2", len(entries))
	}
	states := map[spool.State]int{}
	for _, e := range entries {
		states[e.State]++
	}
	if states[spool.StateSubmitted] != 1 || states[spool.StatePending] != 1 {
		t.Errorf("entry states while the first request waits = %v, want one submitted and one pending", states)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	requests, accepted, blocked := ep.counts()
	if requests != 1 || accepted != 0 || blocked != 1 {
		t.Fatalf("endpoint got %d requests and responded to %d, want 1 request and no response", requests, accepted)
	}

	entries = queueEntries(t, home)
	spooled := map[string][]byte{}
	var unconfirmed, pending spool.Entry
	for _, e := range entries {
		spooled[e.Envelope.Recipients[0]] = spooledMessage(t, home, e.ID)
		switch e.State {
		case spool.StateUnconfirmed:
			unconfirmed = e
		case spool.StatePending:
			pending = e
		}
	}
	if unconfirmed.ID == "" || unconfirmed.Attempts != 1 || pending.ID == "" {
		t.Fatalf("after the kill, entries = %+v, want one unconfirmed after 1 attempt and one pending", entries)
	}
	if !bytes.Equal(ep.blocked[0].Content.Raw.Data, spooled[unconfirmed.Envelope.Recipients[0]]) {
		t.Error("the request that got no response differs from the spooled message")
	}
	status, stdout, _ := runSealmail(t, home, nil, "queue", "list")
	if status != 0 || !strings.Contains(stdout, "unconfirmed") || !strings.Contains(stdout, "may have the message already") {
		t.Errorf("queue list: exit status %d, want 0 and the unconfirmed entry explained:\n%s", status, stdout)
	}

	// The flush sends the pending copy and leaves the unconfirmed one.
	ep.setMode("record", 0)
	status, stdout, errOut := runSealmail(t, home, nil, "queue", "flush")
	if status != 1 || !strings.Contains(errOut, "1 message(s) still in the queue") {
		t.Errorf("queue flush: exit status %d, want 1 for the unconfirmed entry left; stderr:\n%s", status, errOut)
	}
	if !strings.Contains(stdout, "sent entry "+pending.ID) || strings.Contains(stdout, unconfirmed.ID) {
		t.Errorf("queue flush sent other entries than the pending one:\n%s", stdout)
	}
	if _, accepted, _ := ep.counts(); accepted != 1 {
		t.Fatalf("endpoint accepted %d requests after the flush, want 1", accepted)
	}

	// Named by ID, the unconfirmed entry is sent again, with a warning.
	status, stdout, errOut = runSealmail(t, home, nil, "queue", "retry", unconfirmed.ID)
	if status != 0 {
		t.Fatalf("queue retry %s: exit status %d: %s", unconfirmed.ID, status, errOut)
	}
	if !strings.Contains(errOut, "may have been accepted already") {
		t.Errorf("queue retry did not warn about the unconfirmed entry; stderr:\n%s", errOut)
	}
	if !strings.Contains(stdout, "sent entry "+unconfirmed.ID) {
		t.Errorf("queue retry does not report the entry as sent:\n%s", stdout)
	}

	// Each copy went out once more, with the bytes that were spooled, so
	// the signature is the one made by send and nothing was signed again.
	if _, accepted, _ := ep.counts(); accepted != 2 {
		t.Fatalf("endpoint accepted %d requests, want 2", accepted)
	}
	sent := sentByMessageID(t, home)
	for i, req := range ep.accepted {
		rcpt := req.Destination.ToAddresses[0]
		if !bytes.Equal(req.Content.Raw.Data, spooled[rcpt]) {
			t.Errorf("request %d to %s differs from the spooled message", i, rcpt)
		}
		id := fmt.Sprintf("queued-%d", i+1)
		if !bytes.Equal(sent[id], spooled[rcpt]) {
			t.Errorf("the sent copy of %s differs from the spooled message", id)
		}
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("spool holds %d entries after the retry, want 0", len(entries))
	}

	// Nothing is left to send.
	if status, _, errOut := runSealmail(t, home, nil, "queue", "flush"); status != 0 {
		t.Errorf("queue flush of an empty queue: exit status %d: %s", status, errOut)
	}
	if requests, _, _ := ep.counts(); requests != 3 {
		t.Errorf("endpoint got %d requests in all, want 3", requests)
	}
}

func TestQueueRetryKeepsAcceptedCopy(t *testing.T) {
	ep, server := newSESEndpoint(t, "record")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	// A file in place of the sent Maildir makes keeping the sent copy fail
	// after SES accepted the message, so the entry stays as accepted.
	sentPath := filepath.Join(home, "sent")
	if err := os.WriteFile(sentPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	status, _, stderr := runSealmail(t, home, nil, sendArgs(files, server.URL, false)...)
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "accepted with message ID queued-1") {
		t.Errorf("send does not report the acceptance; stderr:\n%s", stderr)
	}
	entries := queueEntries(t, home)
	if len(entries) != 1 || entries[0].State != spool.StateAccepted || entries[0].MessageID != "queued-1" {
		t.Fatalf("entries = %+v, want one accepted with message ID queued-1", entries)
	}
	spooled := spooledMessage(t, home, entries[0].ID)

	if err := os.Remove(sentPath); err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := runSealmail(t, home, nil, "queue", "flush")
	if status != 0 {
		t.Fatalf("queue flush: exit status %d: %s", status, stderr)
	}
	if !strings.Contains(stdout, "message ID queued-1") {
		t.Errorf("queue flush does not report the message ID:\n%s", stdout)
	}
	if !strings.Contains(stdout, "kept the sent copy of entry "+entries[0].ID) || strings.Contains(stdout, "sent entry") {
		t.Errorf("queue flush does not say that it only kept the sent copy:\n%s", stdout)
	}
	if requests, _, _ := ep.counts(); requests != 1 {
		t.Errorf("endpoint got %d requests, want 1: an accepted entry is never sent again", requests)
	}
	if sent := sentByMessageID(t, home); !bytes.Equal(sent["queued-1"], spooled) {
		t.Errorf("sent Maildir holds %d copies; the copy of queued-1 must be the spooled bytes", len(sent))
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("spool holds %d entries after the retry, want 0", len(entries))
	}
}

func TestQueueRetryConcurrentSendsOnce(t *testing.T) {
	ep, server := newSESEndpoint(t, "quota")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	status, _, stderr := runSealmail(t, home, nil, sendArgs(files, server.URL, true)...)
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "pending") {
		t.Errorf("send does not report that the copies stay pending; stderr:\n%s", stderr)
	}
	entries := queueEntries(t, home)
	if len(entries) != 2 {
		t.Fatalf("spool holds %d entries, want 2", len(entries))
	}
	for _, e := range entries {
		if e.State != spool.StatePending || e.Attempts != 1 || !strings.Contains(e.LastError, "quota") {
			t.Errorf("entry = %+v, want pending after 1 attempt with the quota error", e)
		}
	}

	// Each response is delayed, so the two processes overlap.
	ep.setMode("record", 500*time.Millisecond)
	var cmds []*exec.Cmd
	var outputs []*bytes.Buffer
	for range 2 {
		cmd, _, errOut := sealmailCommand(t, home, nil, "queue", "retry", entries[0].ID, entries[1].ID)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outputs = append(cmds, cmd), append(outputs, errOut)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("queue retry %d: %v; stderr:\n%s", i, err, outputs[i])
		}
	}

	if _, accepted, _ := ep.counts(); accepted != 2 {
		t.Fatalf("endpoint accepted %d requests, want 2: one per entry", accepted)
	}
	if ep.accepted[0].Destination.ToAddresses[0] == ep.accepted[1].Destination.ToAddresses[0] {
		t.Errorf("both requests went to %v; each entry must be sent once", ep.accepted[0].Destination.ToAddresses)
	}
	if sent := sentByMessageID(t, home); len(sent) != 2 {
		t.Errorf("sent Maildir holds %d copies, want 2", len(sent))
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("spool holds %d entries after the retries, want 0", len(entries))
	}
}

func TestQueuePermanentRefusalNotRetried(t *testing.T) {
	ep, server := newSESEndpoint(t, "reject")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	status, _, stderr := runSealmail(t, home, nil, sendArgs(files, server.URL, false)...)
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "MessageRejected") || !strings.Contains(stderr, "failed: fix the cause") {
		t.Errorf("send does not report the refusal and the failed entry; stderr:\n%s", stderr)
	}
	entries := queueEntries(t, home)
	if len(entries) != 1 || entries[0].State != spool.StateFailed {
		t.Fatalf("entries = %+v, want one failed", entries)
	}
	id := entries[0].ID

	status, stdout, _ := runSealmail(t, home, nil, "queue", "list")
	if status != 0 {
		t.Fatalf("queue list: exit status %d", status)
	}
	for _, want := range []string{"STATE", id, "failed", "bob@example.org", "MessageRejected", "failed: the transport rejected the message"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("queue list lacks %q:\n%s", want, stdout)
		}
	}

	// The JSON names are lowercase, those of the envelope too.
	status, stdout, _ = runSealmail(t, home, nil, "queue", "list", "--json")
	if status != 0 {
		t.Fatalf("queue list --json: exit status %d", status)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("queue list --json printed %v entries (%v):\n%s", len(listed), err, stdout)
	}
	envelope, _ := listed[0]["envelope"].(map[string]any)
	if _, ok := envelope["recipients"]; !ok {
		t.Errorf("the envelope in queue list --json has no key \"recipients\": %v", envelope)
	}
	for key := range envelope {
		if key != strings.ToLower(key) {
			t.Errorf("the envelope in queue list --json has the key %q, want lowercase keys", key)
		}
	}

	status, _, stderr = runSealmail(t, home, nil, "queue", "flush")
	if status != 1 || !strings.Contains(stderr, "1 message(s) still in the queue") {
		t.Errorf("queue flush with a failed entry: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	status, _, stderr = runSealmail(t, home, nil, "queue", "retry")
	if status != 2 || !strings.Contains(stderr, "missing entry ID") || !strings.Contains(stderr, "queue flush") {
		t.Errorf("queue retry without an ID: exit status %d, want 2 and a hint to name IDs or flush; stderr:\n%s", status, stderr)
	}
	if requests, _, _ := ep.counts(); requests != 1 {
		t.Fatalf("endpoint got %d requests, want 1: a refused message is not retried", requests)
	}

	// Named by ID, the entry is sent again, once the cause is fixed.
	ep.setMode("record", 0)
	if status, _, stderr := runSealmail(t, home, nil, "queue", "retry", id); status != 0 {
		t.Fatalf("queue retry %s: exit status %d: %s", id, status, stderr)
	}
	if requests, accepted, _ := ep.counts(); requests != 2 || accepted != 1 {
		t.Errorf("endpoint got %d requests and accepted %d, want 2 and 1", requests, accepted)
	}
	if _, stdout, _ := runSealmail(t, home, nil, "queue", "list"); !strings.Contains(stdout, "the queue is empty") {
		t.Errorf("queue list after the retry:\n%s", stdout)
	}
}

func TestQueueRemoveNeedsYes(t *testing.T) {
	ep, server := newSESEndpoint(t, "reject")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	if status, _, stderr := runSealmail(t, home, nil, sendArgs(files, server.URL, false)...); status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	id := queueEntries(t, home)[0].ID

	status, _, stderr := runCLI(t, home, "", "queue", "remove", id)
	if status != 2 || !strings.Contains(stderr, "add --yes") {
		t.Errorf("queue remove without --yes: exit status %d, want 2; stderr:\n%s", status, stderr)
	}
	status, _, stderr = runCLI(t, home, "", "queue", "remove", "--yes", "../keyring")
	if status != 1 || !strings.Contains(stderr, "invalid spool entry ID") {
		t.Errorf("queue remove of an invalid ID: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	status, stdout, stderr := runCLI(t, home, "", "queue", "remove", "--yes", id)
	if status != 0 || !strings.Contains(stdout, "removed entry "+id) {
		t.Errorf("queue remove --yes: exit status %d: %s%s", status, stdout, stderr)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("spool holds %d entries after remove, want 0", len(entries))
	}
	if requests, _, _ := ep.counts(); requests != 1 {
		t.Errorf("endpoint got %d requests, want 1", requests)
	}
}

func TestQueueFlushSESEmulator(t *testing.T) {
	emulator := sesemu.Start(t)
	ep, server := newSESEndpoint(t, "quota")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	// The endpoint comes from the environment, which the spool does not
	// record, so the flush reaches the emulator.
	args := []string{"send", "--via", "ses", "--region", "eu-west-1", "--from", "alice@example.org",
		"--to", "bob@example.org", "--subject", "Figures", "--text", filepath.Join(files, "body.txt")}
	status, _, stderr := runSealmail(t, home, []string{"AWS_ENDPOINT_URL_SESV2=" + server.URL}, args...)
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if requests, _, _ := ep.counts(); requests != 1 {
		t.Fatalf("endpoint got %d requests, want 1", requests)
	}
	entries := queueEntries(t, home)
	if len(entries) != 1 || entries[0].State != spool.StatePending {
		t.Fatalf("entries = %+v, want one pending", entries)
	}

	status, stdout, stderr := runSealmail(t, home, []string{"AWS_ENDPOINT_URL_SESV2=" + emulator.URL}, "queue", "flush")
	if status != 0 {
		t.Fatalf("queue flush: exit status %d: %s", status, stderr)
	}
	emails := emulator.Emails(t)
	if len(emails) != 1 || emails[0].Subject != "[...]" {
		t.Fatalf("the emulator has %d messages (%+v), want the one with the protected subject [...]", len(emails), emails)
	}
	sent := sentByMessageID(t, home)
	if len(sent) != 1 {
		t.Fatalf("sent Maildir holds %d copies, want 1", len(sent))
	}
	for id := range sent {
		if !strings.Contains(stdout, "message ID "+id) {
			t.Errorf("queue flush does not report message ID %s:\n%s", id, stdout)
		}
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("spool holds %d entries after the flush, want 0", len(entries))
	}
}

func TestQueueRetryHonoursNoSentCopy(t *testing.T) {
	ep, server := newSESEndpoint(t, "quota")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	args := append(sendArgs(files, server.URL, false), "--no-sent-copy")
	if status, _, stderr := runSealmail(t, home, nil, args...); status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	ep.setMode("record", 0)
	if status, _, stderr := runSealmail(t, home, nil, "queue", "flush"); status != 0 {
		t.Fatalf("queue flush: exit status %d: %s", status, stderr)
	}
	if _, accepted, _ := ep.counts(); accepted != 1 {
		t.Errorf("endpoint accepted %d requests, want 1", accepted)
	}
	if _, err := os.Stat(filepath.Join(home, "sent")); err == nil {
		t.Error("queue flush kept a sent copy of a message sent with --no-sent-copy")
	}
}

func TestQueueRetryReplacesRecordedFlags(t *testing.T) {
	server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)

	// Without --smtp-ca-file the test CA is not trusted, so the session
	// cannot be set up with the recorded flags, and the copy stays pending.
	status, _, stderr := runSealmail(t, home, nil, "send", "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-password-file", passwordFile,
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Flags", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Fatalf("send with an untrusted certificate: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "pending: fix the cause, then \"sealmail queue flush\"") || !strings.Contains(stderr, "--smtp-ca-file") {
		t.Errorf("send does not say that queue flush takes transport flags; stderr:\n%s", stderr)
	}
	entries := queueEntries(t, home)
	if len(entries) != 1 || entries[0].State != spool.StatePending {
		t.Fatalf("entries = %+v, want one pending", entries)
	}
	id := entries[0].ID

	status, _, stderr = runSealmail(t, home, nil, "queue", "retry", "--profile", "mail", id)
	if status != 2 || !strings.Contains(stderr, "--profile applies to entries sent via ses") {
		t.Errorf("queue retry with an SES flag for an SMTP entry: exit status %d, want 2; stderr:\n%s", status, stderr)
	}
	status, stdout, stderr := runSealmail(t, home, nil, "queue", "retry", "--smtp-ca-file", caFile, id)
	if status != 0 || !strings.Contains(stdout, "sent entry "+id) {
		t.Fatalf("queue retry --smtp-ca-file: exit status %d; stdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	if n := server.Count(t); n != 1 {
		t.Errorf("mailpit holds %d messages, want 1", n)
	}
}

func TestQueueHelp(t *testing.T) {
	for _, args := range [][]string{{"queue", "--help"}, {"queue", "help"}, {"queue", "-h"}} {
		status, stdout, stderr := runCLI(t, t.TempDir(), "", args...)
		if status != 0 || !strings.Contains(stdout, "Usage: sealmail queue") || !strings.Contains(stdout, "replace the recorded ones") {
			t.Errorf("%s: exit status %d, want 0 and the usage; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), status, stdout, stderr)
		}
	}
	status, _, stderr := runCLI(t, t.TempDir(), "", "queue")
	if status != 2 || !strings.Contains(stderr, "Usage: sealmail queue") || !strings.Contains(stderr, "missing subcommand") {
		t.Errorf("queue without a subcommand: exit status %d, want 2 and the usage; stderr:\n%s", status, stderr)
	}
	status, _, stderr = runCLI(t, t.TempDir(), "", "queue", "retry")
	if status != 2 || !strings.Contains(stderr, "missing entry ID") {
		t.Errorf("queue retry without an ID: exit status %d, want 2; stderr:\n%s", status, stderr)
	}
}
