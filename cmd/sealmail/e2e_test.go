package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/internal/sesemu"
	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/transport/maildir"
)

const e2eText = "Hello Bob,\n\nthe figures are attached.\n"

// person is a test identity with its key and its armored forms.
type person struct {
	address string
	entity  *openpgp.Entity
	public  []byte
	secret  []byte
}

// encryptionKeyID returns the key ID of the subkey messages are encrypted to.
func (p *person) encryptionKeyID(t *testing.T) string {
	t.Helper()
	key, ok := p.entity.EncryptionKey(time.Now(), nil)
	if !ok {
		t.Fatalf("key of %s has no encryption subkey", p.address)
	}
	return fmt.Sprintf("%016X", key.PublicKey.KeyId)
}

func newPerson(t *testing.T, address string) *person {
	t.Helper()
	return generatePerson(t, address, keyring.GenerateOptions{})
}

// fakeAWS points the AWS SDK at static test credentials and keeps it from
// asking an instance metadata service.
func fakeAWS(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
}

// e2eSetup makes a home holding Alice's secret key and the certificates of
// Bob and Carol, and a folder with a text body and an attachment.
func e2eSetup(t *testing.T) (home, files string, alice, bob, carol *person) {
	t.Helper()
	home, files = t.TempDir(), t.TempDir()
	alice, bob, carol = newPerson(t, "alice@example.org"), newPerson(t, "bob@example.org"), newPerson(t, "carol@example.org")
	for name, data := range map[string][]byte{
		"alice.sec":   alice.secret,
		"bob.asc":     bob.public,
		"carol.asc":   carol.public,
		"body.txt":    []byte(e2eText),
		"figures.csv": []byte("q,revenue\r\nQ1,120\r\n"),
	} {
		if err := os.WriteFile(filepath.Join(files, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	status, _, stderr := runCLI(t, home, "", "keyring", "import",
		filepath.Join(files, "alice.sec"), filepath.Join(files, "bob.asc"), filepath.Join(files, "carol.asc"))
	if status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderr)
	}
	return home, files, alice, bob, carol
}

func TestSendSESEmulator(t *testing.T) {
	emulator := sesemu.Start(t)
	fakeAWS(t)
	home, files, alice, bob, _ := e2eSetup(t)

	status, stdout, stderr := runCLI(t, home, "", "send", "--via", "ses", "--region", "eu-west-1",
		"--endpoint-url", emulator.URL, "--from", "Alice <alice@example.org>", "--to", "Bob <bob@example.org>",
		"--subject", "Figures", "--text", filepath.Join(files, "body.txt"), "--attach", filepath.Join(files, "figures.csv"))
	if status != 0 {
		t.Fatalf("send: exit status %d: %s", status, stderr)
	}
	if !strings.Contains(stderr, "plain HTTP") {
		t.Errorf("send did not warn about the plain HTTP endpoint; stderr:\n%s", stderr)
	}
	id := regexp.MustCompile(`message ID (\S+)`).FindStringSubmatch(stdout)
	if id == nil {
		t.Fatalf("send printed no message ID:\n%s", stdout)
	}

	emails := emulator.Emails(t)
	if len(emails) != 1 {
		t.Fatalf("the emulator holds %d messages, want 1", len(emails))
	}
	// Header protection: the subject travels inside the encrypted part.
	if emails[0].Subject != "[...]" {
		t.Errorf("subject in the emulator = %q, want %q", emails[0].Subject, "[...]")
	}
	var armored []byte
	for _, a := range emails[0].Attachments {
		data, err := a.Data()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("-----BEGIN PGP MESSAGE-----")) {
			armored = data
		}
	}
	if armored == nil {
		t.Fatalf("no part of the stored message holds a PGP MESSAGE: %+v", emails[0].Attachments)
	}

	g := gpgtest.New(t)
	g.Import(t, bob.secret)
	g.Import(t, alice.public)
	status2, plain, gpgErr, err := g.Status(t, armored, "--decrypt")
	if err != nil {
		t.Fatalf("gpg --decrypt failed: %v\n%s", err, gpgErr)
	}
	if !gpgtest.HasStatus(status2, "GOODSIG") || !gpgtest.HasStatus(status2, "DECRYPTION_OKAY") {
		t.Errorf("gpg did not report a good signature and decryption:\n%s", strings.Join(status2, "\n"))
	}
	if !bytes.Contains(plain, []byte("the figures are attached.")) {
		t.Errorf("the decrypted entity lacks the text:\n%s", plain)
	}

	// The sent copy is kept with the SES message ID.
	sent, err := maildir.Open(filepath.Join(home, "sent"))
	if err != nil {
		t.Fatal(err)
	}
	paths, err := sent.Messages()
	if err != nil || len(paths) != 1 {
		t.Fatalf("sent Maildir holds %d messages (%v), want 1", len(paths), err)
	}
	rec, err := sent.ReadRecord(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if rec.MessageID != id[1] || rec.Via != "ses" {
		t.Errorf("sent record = %+v, want message ID %q via ses", rec, id[1])
	}
}

// sendRequest is the part of a SendEmail request body the tests read.
type sendRequest struct {
	Content struct {
		Raw struct {
			Data []byte // encoding/json decodes base64 into []byte
		}
	}
	Destination struct {
		ToAddresses  []string
		CcAddresses  []string
		BccAddresses []string
	}
	FromEmailAddress *string
}

// recorder is a fake SES endpoint that keeps every SendEmail request.
type recorder struct {
	mu       sync.Mutex
	requests []sendRequest
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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
	r.mu.Lock()
	r.requests = append(r.requests, sr)
	n := len(r.requests)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"MessageId":"recorded-%d"}`, n)
}

func TestSendSESRecordedRequests(t *testing.T) {
	rec := &recorder{}
	server := httptest.NewServer(rec)
	defer server.Close()
	fakeAWS(t)
	home, files, alice, bob, carol := e2eSetup(t)

	status, stdout, stderr := runCLI(t, home, "", "send", "--via", "ses", "--region", "eu-west-1",
		"--endpoint-url", server.URL, "--from", "alice@example.org", "--to", "bob@example.org",
		"--bcc", "carol@example.org", "--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 0 {
		t.Fatalf("send: exit status %d: %s", status, stderr)
	}
	if len(rec.requests) != 2 {
		t.Fatalf("SES got %d requests, want 2 (the To copy and the Bcc copy)", len(rec.requests))
	}
	for _, id := range []string{"recorded-1", "recorded-2"} {
		if !strings.Contains(stdout, "message ID "+id) {
			t.Errorf("stdout does not report message ID %s:\n%s", id, stdout)
		}
	}

	sentCopies := sentByMessageID(t, home)
	g := gpgtest.New(t)
	for i, req := range rec.requests {
		raw := req.Content.Raw.Data
		if req.FromEmailAddress != nil {
			t.Errorf("request %d sets FromEmailAddress %q", i, *req.FromEmailAddress)
		}
		if regexp.MustCompile(`(?im)^bcc:`).Match(raw) {
			t.Errorf("request %d: the raw message has a Bcc header field", i)
		}
		id := fmt.Sprintf("recorded-%d", i+1)
		if !bytes.Equal(raw, sentCopies[id]) {
			t.Errorf("request %d: the raw message differs from the sent copy kept for %s", i, id)
		}

		want := []string{bob.encryptionKeyID(t), alice.encryptionKeyID(t)}
		wantDestination := []string{"bob@example.org"}
		if slices.Contains(req.Destination.ToAddresses, "carol@example.org") {
			want = []string{carol.encryptionKeyID(t), alice.encryptionKeyID(t)}
			wantDestination = []string{"carol@example.org"}
		}
		if !slices.Equal(req.Destination.ToAddresses, wantDestination) {
			t.Errorf("request %d: Destination.ToAddresses = %v, want %v", i, req.Destination.ToAddresses, wantDestination)
		}
		got := pkeskKeyIDs(t, g, raw)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("request %d to %v: encrypted to key IDs %v, want %v", i, req.Destination.ToAddresses, got, want)
		}
	}
}

// maildirCopy is a message in a Maildir with the record sealmail keeps
// for it.
type maildirCopy struct {
	path   string
	raw    []byte
	record maildir.Record
}

// maildirCopies returns every message in the Maildir dir with its record,
// in the order of maildir.Messages.
func maildirCopies(t *testing.T, dir string) []maildirCopy {
	t.Helper()
	box, err := maildir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := box.Messages()
	if err != nil {
		t.Fatal(err)
	}

	copies := make([]maildirCopy, 0, len(paths))
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := box.ReadRecord(path)
		if err != nil {
			t.Fatal(err)
		}
		copies = append(copies, maildirCopy{path: path, raw: raw, record: rec})
	}
	return copies
}

// sentByMessageID returns the sent copies in home by their message ID.
func sentByMessageID(t *testing.T, home string) map[string][]byte {
	t.Helper()
	copies := make(map[string][]byte)
	for _, c := range maildirCopies(t, filepath.Join(home, "sent")) {
		copies[c.record.MessageID] = c.raw
	}
	return copies
}

// pkeskKeyIDs returns the key IDs of the public-key encrypted session key
// packets of the PGP MESSAGE in raw, as gpg --list-packets shows them.
func pkeskKeyIDs(t *testing.T, g *gpgtest.GPG, raw []byte) []string {
	t.Helper()
	start := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	if start < 0 {
		t.Fatal("no PGP MESSAGE in the raw message")
	}
	// gpg lists the packets even without a secret key; it exits non-zero
	// because it cannot decrypt.
	out, _, _ := g.Run(t, raw[start:], "--list-packets")
	var ids []string
	for _, m := range regexp.MustCompile(`:pubkey enc packet: .* keyid ([0-9A-F]{16})`).FindAllSubmatch(out, -1) {
		ids = append(ids, string(m[1]))
	}
	return ids
}

// TestOutboxOpensInNotmuch indexes the outbox with notmuch and checks that
// it decrypts the copy to Bob, verifies Alice's signature and lists the
// attachment.
func TestOutboxOpensInNotmuch(t *testing.T) {
	home, files, alice, bob, _ := e2eSetup(t)
	status, _, stderr := runCLI(t, home, "", "send", "--from", "alice@example.org", "--to", "bob@example.org",
		"--subject", "Figures", "--text", filepath.Join(files, "body.txt"), "--attach", filepath.Join(files, "figures.csv"))
	if status != 0 {
		t.Fatalf("send: exit status %d: %s", status, stderr)
	}

	g := gpgtest.New(t)
	g.Import(t, bob.secret)
	g.Import(t, alice.public)
	out := notmuchShow(t, filepath.Join(home, "outbox"), g.Home)

	for _, want := range []string{`"status": "good"`, `the figures are attached.`, `"filename": "figures.csv"`} {
		if !bytes.Contains(spaceJSON(out), []byte(want)) {
			t.Errorf("notmuch show output lacks %s:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`"encstatus":\s*\[\s*\{\s*"status":\s*"good"`).Match(out) {
		t.Errorf("notmuch did not decrypt the message:\n%s", out)
	}
	if !regexp.MustCompile(`"sigstatus":\s*\[\s*\{\s*"status":\s*"good"`).Match(out) {
		t.Errorf("notmuch did not report a good signature:\n%s", out)
	}
}

// spaceJSON rewrites JSON so that every key is followed by ": ", whatever
// spacing the producer used.
func spaceJSON(b []byte) []byte {
	return regexp.MustCompile(`":\s*`).ReplaceAll(b, []byte(`": `))
}

func TestDemo(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	if status := run([]string{"demo"}, strings.NewReader(""), &stdout, &stderr); status != 0 {
		t.Fatalf("demo: exit status %d: %s", status, stderr.String())
	}
	out := stdout.String()
	if n := strings.Count(out, "good signature from alice@example.org"); n != 2 {
		t.Errorf("demo verified %d copies, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "gpg --decrypt") {
		t.Errorf("demo does not print the gpg commands:\n%s", out)
	}
}

func TestSendReportsPartialFailure(t *testing.T) {
	// The endpoint accepts the first copy and rejects the second. The
	// recorder responds to other requests, such as GetAccount, with HTTP 404.
	rec := &recorder{}
	var calls int
	var mu sync.Mutex
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v2/email/outbound-emails" {
			rec.ServeHTTP(w, req)
			return
		}
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "MessageRejected")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"message":"Email address is not verified."}`)
			return
		}
		rec.ServeHTTP(w, req)
	}))
	defer server.Close()
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	status, stdout, stderr := runCLI(t, home, "", "send", "--via", "ses", "--region", "eu-west-1",
		"--endpoint-url", server.URL, "--from", "alice@example.org", "--to", "bob@example.org",
		"--bcc", "carol@example.org", "--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if calls != 2 {
		t.Errorf("SES got %d requests, want 2: a refused message is not retried", calls)
	}
	for _, want := range []string{
		"1 of 2 copies failed",
		"accepted: copy for bob@example.org: message ID recorded-1",
		"failed:   Bcc copy for carol@example.org",
		"MessageRejected",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "message ID recorded-1") {
		t.Errorf("stdout does not report the accepted copy:\n%s", stdout)
	}
	if copies := sentByMessageID(t, home); len(copies) != 1 || copies["recorded-1"] == nil {
		t.Errorf("sent Maildir holds %d copies, want only the accepted one", len(copies))
	}
}

func TestSendSESTooManyRecipientsSendsNothing(t *testing.T) {
	rec := &recorder{}
	server := httptest.NewServer(rec)
	defer server.Close()
	fakeAWS(t)
	home, files, _, _, _ := e2eSetup(t)

	// 51 To recipients make the To copy too big for SES; the Bcc copy alone
	// would pass, but it must not leave either.
	var certs bytes.Buffer
	var to []string
	for i := range 51 {
		p := newPerson(t, fmt.Sprintf("r%02d@example.org", i))
		certs.Write(p.public)
		to = append(to, p.address)
	}
	certFile := filepath.Join(files, "many.asc")
	if err := os.WriteFile(certFile, certs.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", certFile); status != 0 {
		t.Fatalf("keyring import: %s", stderr)
	}

	status, _, stderr := runCLI(t, home, "", "send", "--via", "ses", "--region", "eu-west-1",
		"--endpoint-url", server.URL, "--from", "alice@example.org", "--to", strings.Join(to, ","),
		"--bcc", "carol@example.org", "--subject", "Figures", "--text", filepath.Join(files, "body.txt"))
	if status != 1 {
		t.Fatalf("send: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if len(rec.requests) != 0 {
		t.Errorf("SES got %d requests, want none", len(rec.requests))
	}
	if !strings.Contains(stderr, "nothing was sent") || !strings.Contains(stderr, "too many envelope recipients: 51") {
		t.Errorf("stderr does not say that nothing was sent and why:\n%s", stderr)
	}
}

func TestDemoSMIME(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	if status := run([]string{"demo", "--smime"}, strings.NewReader(""), &stdout, &stderr); status != 0 {
		t.Fatalf("demo --smime: exit status %d: %s", status, stderr.String())
	}
	out := stdout.String()
	if n := strings.Count(out, "good signature from alice@example.org"); n != 2 {
		t.Errorf("demo verified %d copies, want 2:\n%s", n, out)
	}

	// The printed openssl commands open the copies.
	openssl := peers.Require(t, "openssl")
	commands := regexp.MustCompile(`(?m)^  openssl cms -decrypt -in (\S+) -recip (\S+) -inkey (\S+) \| openssl cms -verify -CAfile (\S+)$`).FindAllStringSubmatch(out, -1)
	if len(commands) != 2 {
		t.Fatalf("demo printed %d openssl commands, want 2:\n%s", len(commands), out)
	}
	for _, c := range commands {
		decrypted := runOpenSSL(t, openssl, nil, "cms", "-decrypt", "-in", c[1], "-recip", c[2], "-inkey", c[3])
		content := runOpenSSL(t, openssl, decrypted, "cms", "-verify", "-CAfile", c[4])
		if !bytes.Contains(content, []byte("figures.csv")) {
			t.Errorf("the copy %s opened by openssl lacks the attachment", c[1])
		}
	}
}
