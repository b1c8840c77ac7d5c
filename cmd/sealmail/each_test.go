package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/mailpit"
	"github.com/sealmail/sealmail/internal/sesemu"
	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/spool"
)

// emulatorAccountWithRate returns the account aws-ses-v2-local returns from
// AWS_SES_ACCOUNT, with a maximum send rate of rate recipients per second.
func emulatorAccountWithRate(rate int) string {
	return `{"DedicatedIpAutoWarmupEnabled":false,` +
		`"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"","Status":"GRANTED"},"UseCaseDescription":"","WebsiteURL":""},` +
		`"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,` +
		fmt.Sprintf(`"SendQuota":{"Max24HourSend":1000000,"MaxSendRate":%d,"SentLast24Hours":0},`, rate) +
		`"SuppressionAttributes":{"SuppressedReasons":[]}}`
}

// eachRecipients generates n recipients user0000@example.org and on, with
// v4 Ed25519 keys and Cv25519 subkeys made on every core, imports their
// certificates into home in one file, and writes their addresses one a line
// to files/list.txt.
func eachRecipients(t *testing.T, home, files string, n int) []*openpgp.Entity {
	t.Helper()
	keys := make([]*openpgp.Entity, n)
	certs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				address := fmt.Sprintf("user%04d@example.org", i)
				keys[i], errs[i] = keyring.Generate(fmt.Sprintf("User %d", i), address, keyring.GenerateOptions{})
				if errs[i] != nil {
					continue
				}
				var buf bytes.Buffer
				errs[i] = keys[i].Serialize(&buf)
				certs[i] = buf.Bytes()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	var list bytes.Buffer
	for i := range n {
		fmt.Fprintf(&list, "user%04d@example.org\n", i)
	}
	writeFiles(t, files, map[string][]byte{"recipients.pgp": bytes.Join(certs, nil), "list.txt": list.Bytes()})
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", filepath.Join(files, "recipients.pgp")); status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderr)
	}
	return keys
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// eachArgs are the arguments of send --each files/list.txt through the SES
// endpoint at url.
func eachArgs(files, url string, extra ...string) []string {
	return append([]string{"send", "--each", filepath.Join(files, "list.txt"), "--via", "ses", "--region", "eu-west-1",
		"--endpoint-url", url, "--from", "Alice <alice@example.org>", "--subject", "Statement",
		"--text", filepath.Join(files, "body.txt")}, extra...)
}

// armoredMessage returns the armored PGP MESSAGE among the parts that the
// emulator stored for email.
func armoredMessage(t *testing.T, email sesemu.Email) []byte {
	t.Helper()
	for _, a := range email.Attachments {
		data, err := a.Data()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("-----BEGIN PGP MESSAGE-----")) {
			return data
		}
	}
	t.Fatalf("no part of the message %s to %v holds a PGP MESSAGE", email.MessageID, email.Destination.To)
	return nil
}

// pkeskKeyIDsGo returns the key IDs of the public-key encrypted session key
// packets at the start of an armored OpenPGP message, read with go-crypto.
func pkeskKeyIDsGo(t *testing.T, armored []byte) []uint64 {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatalf("invalid armor: %v", err)
	}
	var ids []uint64
	for {
		p, err := packet.Read(block.Body)
		if err != nil {
			t.Fatalf("failed to read an OpenPGP packet: %v", err)
		}
		key, ok := p.(*packet.EncryptedKey)
		if !ok {
			// The encrypted data follows the session key packets.
			return ids
		}
		ids = append(ids, key.KeyId)
	}
}

// encryptionKeyID returns the ID of the subkey that messages to e are
// encrypted to.
func encryptionKeyID(t *testing.T, e *openpgp.Entity) uint64 {
	t.Helper()
	key, ok := e.EncryptionKey(time.Now(), nil)
	if !ok {
		t.Fatalf("key %X has no encryption subkey", e.PrimaryKey.Fingerprint)
	}
	return key.PublicKey.KeyId
}

// eachOutputLine matches a line of the output of send --each.
var eachOutputLine = regexp.MustCompile(`^(\S+)\t(sent|queued|failed|written)\t(.*)$`)

func TestSendEach1000Emulator(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1,000 messages paced to 200 per second")
	}
	emulator := sesemu.Start(t, "AWS_SES_ACCOUNT="+emulatorAccountWithRate(200))
	fakeAWS(t)
	home, files, alice, _, _ := e2eSetup(t)
	const n = 1000
	keys := eachRecipients(t, home, files, n)

	start := time.Now()
	status, stdout, stderr := runCLI(t, home, "", eachArgs(files, emulator.URL)...)
	elapsed := time.Since(start)
	if status != 0 {
		t.Fatalf("send --each: exit status %d; stderr:\n%s", status, stderr)
	}
	t.Logf("send --each of %d copies took %v", n, elapsed)

	// One line per recipient, in the order of the file, each with its own
	// message ID.
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("send --each printed %d lines, want %d", len(lines), n)
	}
	messageIDs := map[string]string{}
	for i, line := range lines {
		m := eachOutputLine.FindStringSubmatch(line)
		want := fmt.Sprintf("user%04d@example.org", i)
		if m == nil || m[1] != want || m[2] != "sent" {
			t.Fatalf("line %d = %q, want %s sent with a message ID", i+1, line, want)
		}
		if other, ok := messageIDs[m[3]]; ok {
			t.Fatalf("message ID %s is reported for %s and %s", m[3], other, want)
		}
		messageIDs[m[3]] = want
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d of %d copies sent, 0 failed, 0 still queued", n, n)) {
		t.Errorf("stderr lacks the counts:\n%s", stderr)
	}

	emails := emulator.Emails(t)
	if len(emails) != n {
		t.Fatalf("the emulator holds %d messages, want %d", len(emails), n)
	}
	aliceKey := encryptionKeyID(t, alice.entity)
	byRecipient := map[string]sesemu.Email{}
	for _, email := range emails {
		if len(email.Destination.To) != 1 || len(email.Destination.Cc) != 0 {
			t.Fatalf("message %s is to %v and cc %v, want one To recipient", email.MessageID, email.Destination.To, email.Destination.Cc)
		}
		rcpt := email.Destination.To[0]
		if messageIDs[email.MessageID] != rcpt {
			t.Errorf("the emulator stored message %s for %s, but send reported it for %q", email.MessageID, rcpt, messageIDs[email.MessageID])
		}
		if _, ok := byRecipient[rcpt]; ok {
			t.Errorf("the emulator holds two messages to %s", rcpt)
		}
		byRecipient[rcpt] = email
	}

	// Every copy is encrypted to its own recipient and to Alice, and to no
	// other key.
	for i, key := range keys {
		rcpt := fmt.Sprintf("user%04d@example.org", i)
		email, ok := byRecipient[rcpt]
		if !ok {
			t.Errorf("the emulator holds no message to %s", rcpt)
			continue
		}
		got := pkeskKeyIDsGo(t, armoredMessage(t, email))
		want := []uint64{encryptionKeyID(t, key), aliceKey}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("the copy for %s is encrypted to key IDs %X, want %X (its recipient and the sender)", rcpt, got, want)
		}
	}

	// gpg opens a sample, each with its own recipient's key.
	g := gpgtest.New(t)
	g.Import(t, alice.public)
	for _, i := range []int{0, n / 2, n - 1} {
		var secret bytes.Buffer
		if err := writeArmored(&secret, openpgp.PrivateKeyType, secretSerializer(keys[i])); err != nil {
			t.Fatal(err)
		}
		g.Import(t, secret.Bytes())
	}
	for _, i := range []int{0, n / 2, n - 1} {
		rcpt := fmt.Sprintf("user%04d@example.org", i)
		statusLines, plain, gpgErr, err := g.Status(t, armoredMessage(t, byRecipient[rcpt]), "--decrypt")
		if err != nil {
			t.Fatalf("gpg --decrypt of the copy for %s: %v\n%s", rcpt, err, gpgErr)
		}
		if !gpgtest.HasStatus(statusLines, "GOODSIG") || !gpgtest.HasStatus(statusLines, "DECRYPTION_OKAY") {
			t.Errorf("gpg did not report a good signature and decryption for %s:\n%s", rcpt, strings.Join(statusLines, "\n"))
		}
		if !bytes.Contains(plain, []byte("the figures are attached.")) {
			t.Errorf("the copy for %s decrypts to text without the body:\n%s", rcpt, plain)
		}
	}

	if sent := sentByMessageID(t, home); len(sent) != n {
		t.Errorf("sent Maildir holds %d copies, want %d", len(sent), n)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("spool holds %d entries after the send, want 0", len(entries))
	}
}

// slidingWindowSES is a recording fake SES endpoint on 127.0.0.1 that reports
// a maximum send rate in GetAccount and returns HTTP 429 to any SendEmail
// request above that rate in the second before it.
type slidingWindowSES struct {
	rate int

	mu        sync.Mutex
	accepted  []time.Time
	throttled int
	// recipients counts the accepted requests by their Destination.
	recipients map[string]int
}

func (f *slidingWindowSES) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	w.Header().Set("Content-Type", "application/json")
	if req.Method == http.MethodGet && req.URL.Path == "/v2/email/account" {
		fmt.Fprintf(w, `{"SendQuota":{"Max24HourSend":100000,"MaxSendRate":%d,"SentLast24Hours":0},"ProductionAccessEnabled":true,"SendingEnabled":true}`, f.rate)
		return
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v2/email/outbound-emails" {
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}
	var sr sendRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	recent := f.accepted[:0]
	for _, at := range f.accepted {
		if now.Sub(at) < time.Second {
			recent = append(recent, at)
		}
	}
	f.accepted = recent
	if len(f.accepted) >= f.rate {
		f.throttled++
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"message":"Maximum sending rate exceeded."}`)
		return
	}
	f.accepted = append(f.accepted, now)
	for _, rcpt := range sr.Destination.ToAddresses {
		f.recipients[rcpt]++
	}
	fmt.Fprintf(w, `{"MessageId":"window-%d"}`, len(f.recipients))
}

func TestSendEachPacedNoThrottling(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200 messages paced to 20 per second")
	}
	fake := &slidingWindowSES{rate: 20, recipients: map[string]int{}}
	server := httptest.NewServer(fake)
	defer server.Close()
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	const n = 200
	eachRecipients(t, home, files, n)

	status, stdout, stderr := runCLI(t, home, "", eachArgs(files, server.URL)...)
	if status != 0 {
		t.Fatalf("send --each: exit status %d; stderr:\n%s", status, stderr)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.throttled != 0 {
		t.Errorf("the endpoint returned HTTP 429 %d times, want none", fake.throttled)
	}
	if len(fake.recipients) != n {
		t.Errorf("the endpoint accepted messages to %d recipients, want %d", len(fake.recipients), n)
	}
	for rcpt, count := range fake.recipients {
		if count != 1 {
			t.Errorf("the endpoint accepted %d messages to %s, want 1", count, rcpt)
		}
	}
	if got := strings.Count(stdout, "\tsent\t"); got != n {
		t.Errorf("send --each reported %d copies sent, want %d", got, n)
	}
}

// spoolCounts returns the number of records and of batch records in the
// spool of home.
func spoolCounts(home string) (records, released int) {
	names, _ := os.ReadDir(filepath.Join(home, "spool"))
	for _, d := range names {
		switch {
		case strings.HasSuffix(d.Name(), ".json"):
			records++
		case strings.HasSuffix(d.Name(), ".batch"):
			released++
		}
	}
	return records, released
}

func TestSendEachKilledWhileProtecting(t *testing.T) {
	ep, server := newSESEndpoint(t, "record")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	const n = 100
	eachRecipients(t, home, files, n)
	// A large attachment makes each copy take long enough to protect and
	// store that the kill lands among them.
	attachment := bytes.Repeat([]byte("0123456789abcdef"), 1<<15)
	writeFiles(t, files, map[string][]byte{"data.bin": attachment})

	cmd, _, stderr := sealmailCommand(t, home, nil, eachArgs(files, server.URL, "--attach", filepath.Join(files, "data.bin"))...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		records, released := spoolCounts(home)
		if released > 0 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the batch was released before the kill; protect slower copies in this test")
		}
		if records >= 5 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("send --each stored no copies within a minute; stderr:\n%s", stderr)
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if records, released := spoolCounts(home); records == n || released != 0 {
		t.Fatalf("after the kill, the spool holds %d records and %d released batches; want fewer than %d and none released", records, released, n)
	}

	if requests, _, _ := ep.counts(); requests != 0 {
		t.Fatalf("the endpoint got %d requests, want none: nothing leaves before every copy is stored", requests)
	}
	status, stdout, errOut := runSealmail(t, home, nil, "queue", "flush")
	if status != 0 {
		t.Errorf("queue flush: exit status %d; stdout:\n%s\nstderr:\n%s", status, stdout, errOut)
	}
	if requests, _, _ := ep.counts(); requests != 0 {
		t.Errorf("queue flush made %d requests, want none: the copies of the killed run are never sent", requests)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("the queue holds %d entries after the flush, want the killed run's removed", len(entries))
	}
}

func TestSendEachKilledWhileSending(t *testing.T) {
	emulator := sesemu.Start(t, "AWS_SES_ACCOUNT="+emulatorAccountWithRate(20))
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	const n = 100
	eachRecipients(t, home, files, n)

	cmd, _, stderr := sealmailCommand(t, home, nil, eachArgs(files, emulator.URL)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(emulator.Emails(t)) < 20 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("send --each sent fewer than 20 copies within a minute; stderr:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// Each recipient's copy is in the emulator already, or in the queue.
	// A queued copy is pending, or interrupted if the kill came before its
	// request body left. It is unconfirmed if the kill came after that and
	// before the response was recorded, and accepted if the kill came
	// before the entry was removed.
	before := map[string]int{}
	for _, email := range emulator.Emails(t) {
		before[email.Destination.To[0]]++
	}
	queued := map[string]spool.State{}
	for _, e := range queueEntries(t, home) {
		queued[e.Envelope.Recipients[0]] = e.State
	}
	if len(queued) == 0 || len(before) == n {
		t.Fatalf("the kill came after the last copy (%d sent, %d queued); send more in this test", len(before), len(queued))
	}
	states := map[spool.State]int{}
	for _, state := range queued {
		states[state]++
	}
	t.Logf("after the kill: %d recipients in the emulator, queue entries by state %v", len(before), states)

	status, _, errOut := runSealmail(t, home, nil, "queue", "flush")
	if want := min(states[spool.StateUnconfirmed], 1); status != want {
		t.Fatalf("queue flush with %d unconfirmed entries: exit status %d, want %d; stderr:\n%s", states[spool.StateUnconfirmed], status, want, errOut)
	}
	after := map[string]int{}
	for _, email := range emulator.Emails(t) {
		after[email.Destination.To[0]]++
	}
	for i := range n {
		rcpt := fmt.Sprintf("user%04d@example.org", i)
		state, inQueue := queued[rcpt]
		switch {
		case !inQueue || state == spool.StateAccepted:
			// Accepted before the kill: never sent again.
			if before[rcpt] != 1 || after[rcpt] != 1 {
				t.Errorf("%s: %d copies before the flush and %d after, want 1 and 1", rcpt, before[rcpt], after[rcpt])
			}
		case state == spool.StatePending:
			if before[rcpt] != 0 || after[rcpt] != 1 {
				t.Errorf("%s (pending): %d copies before the flush and %d after, want 0 and 1", rcpt, before[rcpt], after[rcpt])
			}
		case state == spool.StateInterrupted:
			if before[rcpt] != 0 || after[rcpt] != 1 {
				t.Errorf("%s (interrupted): %d copies before the flush and %d after, want 0 and 1", rcpt, before[rcpt], after[rcpt])
			}
		case state == spool.StateUnconfirmed:
			// The emulator may have accepted the request the kill cut
			// off, so the flush leaves the entry for the user.
			if before[rcpt] > 1 || after[rcpt] != before[rcpt] {
				t.Errorf("%s (unconfirmed): %d copies before the flush and %d after, want at most 1 and no more", rcpt, before[rcpt], after[rcpt])
			}
		default:
			t.Errorf("%s: entry in state %s after the kill", rcpt, state)
		}
	}
	left := queueEntries(t, home)
	for _, e := range left {
		if e.State != spool.StateUnconfirmed {
			t.Errorf("entry %s to %s left in state %s after the flush, want only unconfirmed entries", e.ID, e.Envelope.Recipients[0], e.State)
		}
	}
	if len(left) != states[spool.StateUnconfirmed] {
		t.Errorf("the queue holds %d entries after the flush, want the %d unconfirmed", len(left), states[spool.StateUnconfirmed])
	}
}

func TestSendEachFileErrors(t *testing.T) {
	ep, server := newSESEndpoint(t, "record")
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	writeFiles(t, files, map[string][]byte{
		"bad.txt":       []byte("bob@example.org\n# a comment\n\nnot an address\ncarol@example.org, bob@example.org\n"),
		"nocolumn.csv":  []byte("name,mail\nBob,bob@example.org\n"),
		"badrow.csv":    []byte("name,email\nBob,bob@example.org\nCarol\nDave,dave@\n"),
		"dupes.csv":     []byte("\uFEFFName,E-mail,Email\nBob,x,bob@example.org\nBob again,y,Bob@Example.org\nCarol,z,carol@example.org\n"),
		"empty.txt":     []byte("# nobody yet\n\n"),
		"nokey.txt":     []byte("bob@example.org\ndave@example.org\nerin@example.org\n"),
		"custom.csv":    []byte("who,to\nBob,bob@example.org\n"),
		"unknown.lines": []byte("bob@example.org\n"),
	})
	base := func(file string, extra ...string) []string {
		return append([]string{"send", "--each", filepath.Join(files, file), "--via", "ses", "--region", "eu-west-1",
			"--endpoint-url", server.URL, "--from", "alice@example.org", "--subject", "Hi", "--text", filepath.Join(files, "body.txt")}, extra...)
	}

	tests := []struct {
		name   string
		args   []string
		status int
		want   []string
	}{
		{"invalid lines", base("bad.txt"), 1, []string{"bad.txt has 2 invalid lines, so nothing was sent", "bad.txt, line 4: ", `"not an address"`, "bad.txt, line 5: ", "contains 2 addresses"}},
		{"missing column", base("nocolumn.csv"), 1, []string{"nocolumn.csv, line 1: missing address column", `"name", "mail"`, "--each-column"}},
		{"bad rows", base("badrow.csv"), 1, []string{"badrow.csv has 2 invalid lines", "badrow.csv, line 3: missing column \"email\": the row has 1 field", "badrow.csv, line 4: ", `"dave@"`}},
		{"no recipients", base("empty.txt"), 1, []string{"empty.txt lists no recipients"}},
		{"missing keys", base("nokey.txt"), 1, []string{"no usable encryption key for 2 of the 3 recipients", "line 2: ", "dave@example.org", "line 3: ", "erin@example.org"}},
		{"missing custom column", base("custom.csv", "--each-column", "email"), 1, []string{`custom.csv, line 1: missing column "email"`}},
		{"with --to", base("custom.csv", "--to", "bob@example.org"), 2, []string{"--to, --cc and --bcc cannot be used with it"}},
		{"unknown format", base("custom.csv", "--each-format", "tsv"), 2, []string{`unknown --each-format "tsv"`}},
		{"column of a lines file", base("unknown.lines", "--each-format", "lines", "--each-column", "to"), 2, []string{"--each-column needs a CSV file"}},
		{"json without each", []string{"send", "--json", "--from", "alice@example.org", "--to", "bob@example.org", "--text", filepath.Join(files, "body.txt")}, 2, []string{"need --each FILE"}},
		{"rate with the outbox", append(base("unknown.lines")[:3], "--rate", "5", "--from", "alice@example.org", "--text", filepath.Join(files, "body.txt")), 2, []string{"--rate needs --via ses or --via smtp"}},
		{"invalid rate", base("unknown.lines", "--rate", "fast"), 2, []string{`invalid --rate "fast"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, stderr := runCLI(t, home, "", tt.args...)
			if status != tt.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", status, tt.status, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
	if requests, _, _ := ep.counts(); requests != 0 {
		t.Errorf("the endpoint got %d requests, want none", requests)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("the queue holds %d entries, want none", len(entries))
	}

	// A duplicate is sent once, and the CSV column is found in any case,
	// after a byte order mark, with the first of email and address.
	status, stdout, stderr := runCLI(t, home, "", base("dupes.csv", "--json")...)
	if status != 0 {
		t.Fatalf("send --each dupes.csv: exit status %d; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "lists 1 address twice; each gets one copy") || !strings.Contains(stderr, "line 3: Bob@example.org, listed on line 2 already") {
		t.Errorf("stderr does not report the duplicate:\n%s", stderr)
	}
	var results []eachResult
	if err := json.Unmarshal([]byte(stdout), &results); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if len(results) != 2 || results[0].Recipient != "bob@example.org" || results[0].Line != 2 || results[1].Recipient != "carol@example.org" || results[1].Line != 4 {
		t.Fatalf("results = %+v, want bob@example.org on line 2 and carol@example.org on line 4", results)
	}
	for _, r := range results {
		if r.Status != "sent" || r.MessageID == "" || r.Error != "" {
			t.Errorf("result = %+v, want sent with a message ID", r)
		}
	}
	if _, accepted, _ := ep.counts(); accepted != 2 {
		t.Errorf("the endpoint accepted %d messages, want 2", accepted)
	}
}

func TestParseRecipientsLines(t *testing.T) {
	list, err := parseRecipients("list.txt", []byte("  # people\r\nBob <bob@example.org>\r\n\r\n  carol@example.org  \r\nbob@EXAMPLE.org\n"), formatLines, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list.recipients {
		got = append(got, fmt.Sprintf("%d:%s:%s", r.line, r.address.Name, r.address.Address))
	}
	if want := []string{"2:Bob:bob@example.org", "4::carol@example.org"}; !slices.Equal(got, want) {
		t.Errorf("recipients = %v, want %v", got, want)
	}
	if len(list.duplicates) != 1 || list.duplicates[0].line != 5 || list.duplicates[0].firstLine != 2 {
		t.Errorf("duplicates = %+v, want line 5 as a duplicate of line 2", list.duplicates)
	}
}

func TestParseRecipientsCSV(t *testing.T) {
	data := "id,Address\n1,\"\"\"Bob, Jr.\"\" <bob@example.org>\"\n2,carol@example.org\n"
	list, err := parseRecipients("people.csv", []byte(data), formatCSV, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.recipients) != 2 || list.recipients[0].address.Name != "Bob, Jr." || list.recipients[1].line != 3 {
		t.Errorf("recipients = %+v, want Bob, Jr. and carol@example.org on line 3", list.recipients)
	}

	_, err = parseRecipients("people.csv", []byte("email\n\"bob@example.org\n"), formatCSV, "")
	if err == nil || !strings.Contains(err.Error(), "people.csv, line 2: invalid CSV") {
		t.Errorf("CSV with an open quote: %v, want an invalid CSV error on line 2", err)
	}
	_, err = parseRecipients("people.csv", []byte("email,name\n\n,Bob\n"), formatCSV, "")
	if err == nil || !strings.Contains(err.Error(), "people.csv, line 3: empty address") {
		t.Errorf("CSV with an empty address: %v, want an error on line 3", err)
	}
	_, err = parseRecipients("people.csv", nil, formatCSV, "")
	if err == nil || !strings.Contains(err.Error(), "missing CSV header row") {
		t.Errorf("empty CSV: %v, want a missing header error", err)
	}
}

func TestParseRecipientsCapsErrors(t *testing.T) {
	var data strings.Builder
	for i := range 50 {
		fmt.Fprintf(&data, "bad address %d\n", i)
	}
	_, err := parseRecipients("list.txt", []byte(data.String()), formatLines, "")
	if err == nil {
		t.Fatal("parseRecipients accepted 50 invalid lines")
	}
	if !strings.Contains(err.Error(), "has 50 invalid lines") || !strings.Contains(err.Error(), "... and 30 more") {
		t.Errorf("error = %v, want the count and 20 lines", err)
	}
	if n := strings.Count(err.Error(), "list.txt, line "); n != maxListedProblems {
		t.Errorf("error lists %d lines, want %d", n, maxListedProblems)
	}
}

func FuzzParseRecipients(f *testing.F) {
	f.Add([]byte("bob@example.org\n# x\n\nCarol <carol@example.org>\n"), false, "")
	f.Add([]byte("name,email\nBob,bob@example.org\n\"C, D\",\"carol@example.org\"\n"), true, "")
	f.Add([]byte("\uFEFFwho;to\nx;y\n"), true, "to")
	f.Fuzz(func(t *testing.T, data []byte, csv bool, column string) {
		format := formatLines
		if csv {
			format = formatCSV
		}
		list, err := parseRecipients("fuzz", data, format, column)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range list.recipients {
			key := strings.ToLower(r.address.Address)
			if seen[key] {
				t.Fatalf("address %q returned twice", r.address.Address)
			}
			seen[key] = true
			if r.line < 1 {
				t.Fatalf("address %q on line %d", r.address.Address, r.line)
			}
			if _, err := parseRecipient(r.address.Address); err != nil {
				t.Fatalf("returned address %q does not parse again: %v", r.address.Address, err)
			}
		}
	})
}

func TestSendEachSMTPRate(t *testing.T) {
	server, caFile, _ := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)
	t.Setenv("SEALMAIL_SMTP_PASSWORD", smtpTestPassword)
	const n = 10
	eachRecipients(t, home, files, n)

	start := time.Now()
	status, stdout, stderr := runCLI(t, home, "", "send", "--each", filepath.Join(files, "list.txt"), "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-ca-file", caFile, "--rate", "5",
		"--from", "alice@example.org", "--subject", "Statement", "--text", filepath.Join(files, "body.txt"))
	elapsed := time.Since(start)
	if status != 0 {
		t.Fatalf("send --each --via smtp: exit status %d; stderr:\n%s", status, stderr)
	}
	if got := strings.Count(stdout, "\tsent\t"); got != n {
		t.Errorf("send --each reported %d copies sent, want %d:\n%s", got, n, stdout)
	}
	if got := server.Count(t); got != n {
		t.Errorf("mailpit holds %d messages, want %d", got, n)
	}
	// Nine intervals of a fifth of a second after the first message.
	if min := 1800 * time.Millisecond; elapsed < min {
		t.Errorf("%d messages at --rate 5 took %v, want at least %v", n, elapsed, min)
	}
}

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// attempts returns the number of entries and the sum of their attempts.
func attempts(entries []spool.Entry) (tried, sum int) {
	for _, e := range entries {
		if e.Attempts > 0 {
			tried++
		}
		sum += e.Attempts
	}
	return tried, sum
}

func TestSendEachStopsAtSetupFailure(t *testing.T) {
	server, caFile, _ := smtpSetup(t, mailpit.RequireSTARTTLS)
	port := strconv.Itoa(server.SMTPPort)
	tests := []struct {
		name      string
		password  string
		transport []string
		want      string
	}{
		{name: "wrong password", password: "wrong",
			transport: []string{"--smtp-port", port, "--smtp-tls", "starttls", "--smtp-ca-file", caFile},
			want:      "rejected the user name or password"},
		{name: "wrong TLS mode", password: smtpTestPassword,
			transport: []string{"--smtp-port", port, "--smtp-tls", "implicit", "--smtp-ca-file", caFile},
			want:      "use TLS mode starttls"},
		{name: "closed port", password: smtpTestPassword,
			transport: []string{"--smtp-port", strconv.Itoa(closedPort(t)), "--smtp-tls", "starttls", "--smtp-ca-file", caFile},
			want:      "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, files, _, _, _ := e2eSetup(t)
			t.Setenv("SEALMAIL_SMTP_PASSWORD", tt.password)
			const n = 6
			eachRecipients(t, home, files, n)
			before := server.Count(t)

			args := append([]string{"send", "--each", filepath.Join(files, "list.txt"), "--via", "smtp",
				"--smtp-host", server.SMTPHost, "--smtp-user", smtpTestUser,
				"--from", "alice@example.org", "--subject", "Statement", "--text", filepath.Join(files, "body.txt")}, tt.transport...)
			status, stdout, stderr := runCLI(t, home, "", args...)
			if status != 1 {
				t.Fatalf("send --each: exit status %d, want 1; stderr:\n%s", status, stderr)
			}
			entries := queueEntries(t, home)
			tried, sum := attempts(entries)
			if len(entries) != n || tried != 1 || sum != 1 {
				t.Errorf("the queue holds %d entries, %d of them tried, %d attempts in all; want %d entries and one attempt", len(entries), tried, sum, n)
			}
			for _, e := range entries {
				if e.State != spool.StatePending {
					t.Errorf("entry %s is %s, want pending", e.ID, e.State)
				}
			}
			if got := strings.Count(stdout, "\tqueued\t"); got != n {
				t.Errorf("send --each reported %d copies queued, want %d:\n%s", got, n, stdout)
			}
			if got := strings.Count(stdout, "not tried, because sending via smtp stopped"); got != n-1 {
				t.Errorf("send --each reported %d copies not tried, want %d:\n%s", got, n-1, stdout)
			}
			for _, want := range []string{tt.want, "stopped sending via smtp", "5 copies were not tried", "then run \"sealmail queue flush\"", "--smtp-tls"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "to send the 6 queued copies, paced as this run was") {
				t.Errorf("stderr suggests a flush with the same flags:\n%s", stderr)
			}
			if got := server.Count(t); got != before {
				t.Errorf("mailpit received %d messages, want none", got-before)
			}
		})
	}
}

func TestQueueFlushStopsAtSetupFailure(t *testing.T) {
	server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)
	const n = 4
	eachRecipients(t, home, files, n)
	wrong := filepath.Join(files, "wrong-password")
	writeFiles(t, files, map[string][]byte{"wrong-password": []byte("wrong\n")})

	status, _, stderr := runCLI(t, home, "", "send", "--each", filepath.Join(files, "list.txt"), "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-password-file", wrong, "--smtp-ca-file", caFile,
		"--from", "alice@example.org", "--subject", "Statement", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Fatalf("send --each with a wrong password: exit status %d, want 1; stderr:\n%s", status, stderr)
	}

	// A flush with the recorded wrong password tries one copy again, not
	// every copy.
	status, _, stderr = runCLI(t, home, "", "queue", "flush")
	if status != 1 || !strings.Contains(stderr, "stopped sending via smtp") {
		t.Fatalf("queue flush with the wrong password: exit status %d, want 1 and the stop; stderr:\n%s", status, stderr)
	}
	if _, sum := attempts(queueEntries(t, home)); sum != 2 {
		t.Errorf("the queue entries have %d attempts in all after a send and a flush, want 2", sum)
	}

	// The corrected flag sends them all.
	status, stdout, stderr := runCLI(t, home, "", "queue", "flush", "--smtp-password-file", passwordFile)
	if status != 0 {
		t.Fatalf("queue flush --smtp-password-file: exit status %d; stdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	if got := server.Count(t); got != n {
		t.Errorf("mailpit holds %d messages, want %d", got, n)
	}
	if entries := queueEntries(t, home); len(entries) != 0 {
		t.Errorf("the queue holds %d entries after the flush, want none", len(entries))
	}
}

func TestSendEachSESDownStopsAtFirst(t *testing.T) {
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	const n = 5
	eachRecipients(t, home, files, n)

	endpoint := "http://127.0.0.1:" + strconv.Itoa(closedPort(t))
	start := time.Now()
	status, _, stderr := runCLI(t, home, "", eachArgs(files, endpoint)...)
	elapsed := time.Since(start)
	if status != 1 {
		t.Fatalf("send --each to a closed port: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	t.Logf("send --each of %d copies to a closed port took %v", n, elapsed)
	entries := queueEntries(t, home)
	if tried, sum := attempts(entries); len(entries) != n || tried != 1 || sum != 1 {
		t.Errorf("the queue holds %d entries, %d of them tried, %d attempts in all; want %d entries and one attempt", len(entries), tried, sum, n)
	}
	for _, want := range []string{"connection refused", "stopped sending via ses", "4 copies were not tried", "--endpoint-url"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestSendCopiesStopAtUntrustedCertificate(t *testing.T) {
	server, _, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, _, _, _ := e2eSetup(t)

	status, _, stderr := runCLI(t, home, "", "send", "--via", "smtp",
		"--smtp-host", server.SMTPHost, "--smtp-port", strconv.Itoa(server.SMTPPort), "--smtp-tls", "starttls",
		"--smtp-user", smtpTestUser, "--smtp-password-file", passwordFile,
		"--from", "alice@example.org", "--to", "bob@example.org", "--bcc", "carol@example.org",
		"--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Fatalf("send of two copies with an untrusted certificate: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	for _, want := range []string{
		"2 of 2 copies failed",
		"certificate signed by unknown authority",
		"hint: if the server's certificate is issued by a private CA, trust that CA with --smtp-ca-file FILE, or ca_file in [smtp] of config.toml",
		"stopped sending via smtp", "1 copy was not tried",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got := strings.Count(stderr, "hint: "); got != 1 {
		t.Errorf("stderr has %d hints, want 1:\n%s", got, stderr)
	}
	entries := queueEntries(t, home)
	if tried, sum := attempts(entries); len(entries) != 2 || tried != 1 || sum != 1 {
		t.Errorf("the queue holds %d entries, %d of them tried, %d attempts in all; want 2 entries and one attempt", len(entries), tried, sum)
	}
}

func TestSendNamesSESSettingsFromConfig(t *testing.T) {
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)
	// checkEndpoint rejects the plain http:// endpoint before any request,
	// because it is not on a loopback address.
	config := "via = \"ses\"\n[ses]\nregion = \"eu-west-1\"\nendpoint_url = \"http://mail.example.org:8005\"\n"
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	status, _, stderr := runCLI(t, home, "", "send", "--from", "alice@example.org", "--to", "bob@example.org",
		"--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 2 {
		t.Fatalf("send with an invalid endpoint_url in config.toml: exit status %d, want 2; stderr:\n%s", status, stderr)
	}
	for _, want := range []string{"plain http:// is allowed only on a loopback address", "(region and endpoint_url come from [ses] of config.toml)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// A flag given on the command line is not named as a setting.
	status, _, stderr = runCLI(t, home, "", "send", "--region", "eu-central-1", "--from", "alice@example.org", "--to", "bob@example.org",
		"--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 2 || !strings.Contains(stderr, "(endpoint_url comes from [ses] of config.toml)") {
		t.Errorf("send --region with endpoint_url in config.toml: exit status %d, want 2 and endpoint_url named alone; stderr:\n%s", status, stderr)
	}
}

// funcTransport is a transport whose Send calls send.
type funcTransport func() (string, error)

func (f funcTransport) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	return f()
}

// retryLater is an error after which the spool keeps an entry pending.
type retryLater struct{}

func (retryLater) Error() string   { return "454 throttled" }
func (retryLater) Temporary() bool { return true }

func TestSendEachRechecksBusyCopies(t *testing.T) {
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org"}}
	add := func() spool.Entry {
		e, err := sp.Add(env, strings.NewReader("Subject: Hi\r\n\r\nHi\r\n"), spool.Meta{Transport: "ses"})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// Another process sent one and removed it, accepted one without
	// removing it yet, left one pending, and is still sending the last.
	gone, accepted, pending, sending := add(), add(), add(), add()
	if _, err := sp.Send(context.Background(), gone.ID, funcTransport(func() (string, error) { return "id-gone", nil })); err != nil {
		t.Fatal(err)
	}
	claim, err := sp.Claim(accepted.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := claim.Send(context.Background(), funcTransport(func() (string, error) { return "id-accepted", nil })); err != nil {
		t.Fatal(err)
	}
	claim.Release()
	if _, err := sp.Send(context.Background(), pending.ID, funcTransport(func() (string, error) { return "", retryLater{} })); err == nil {
		t.Fatal("Send with a temporary error succeeded")
	}
	inTransport, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sp.Send(context.Background(), sending.ID, funcTransport(func() (string, error) {
			close(inTransport)
			<-release
			return "id-sending", nil
		}))
	}()
	<-inTransport
	defer func() {
		close(release)
		<-done
	}()

	busy := fmt.Errorf("failed to lock spool entry: %w", spool.ErrBusy)
	var results []eachResult
	for i, e := range []spool.Entry{gone, accepted, pending, sending} {
		r := eachResult{Recipient: fmt.Sprintf("user%d@example.org", i), Line: i + 1, Status: "queued", QueueID: e.ID}
		results = append(results, entryResult(r, e, busy))
	}
	if err := recheckBusy(sp, results); err != nil {
		t.Fatal(err)
	}

	want := []struct{ status, messageID, note string }{
		{"sent", "", sentElsewhere},
		{"sent", "id-accepted", "sent by another sealmail process"},
		{"queued", "", ""},
		{"queued", "", ""},
	}
	for i, w := range want {
		r := results[i]
		if r.Status != w.status || r.MessageID != w.messageID || r.Note != w.note {
			t.Errorf("copy %d = %+v, want status %q, message ID %q and note %q", i+1, r, w.status, w.messageID, w.note)
		}
	}
	if results[0].QueueID != "" || results[0].Error != "" {
		t.Errorf("the copy sent by another process keeps queue entry %q and error %q, want neither", results[0].QueueID, results[0].Error)
	}
	if !strings.Contains(results[2].Error, "454 throttled") || results[2].elsewhere {
		t.Errorf("the pending copy = %+v, want its last error and not elsewhere", results[2])
	}
	if !results[3].elsewhere {
		t.Errorf("the copy still being sent = %+v, want it marked elsewhere", results[3])
	}

	var stderr bytes.Buffer
	a := &app{stdout: io.Discard, stderr: &stderr}
	if err := a.eachSummary(context.Background(), results, false); err == nil {
		t.Error("eachSummary returned no error, want one while copies are still queued")
	}
	for _, want := range []string{
		"2 of 4 copies sent (2 of them by another sealmail process), 0 failed, 2 still queued",
		"run \"sealmail queue flush\" to send the 1 queued copy",
		"another sealmail process is still sending 1 copy",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr.String())
		}
	}
}
