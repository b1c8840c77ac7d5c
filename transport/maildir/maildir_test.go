package maildir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
)

const testMessage = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: Outbox test\r\n" +
	"Message-ID: <outbox-1@example.com>\r\n" +
	"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
	"\r\n" +
	"Hello Bob.\r\n"

func openTemp(t *testing.T) *maildir.Maildir {
	t.Helper()
	m, err := maildir.Open(filepath.Join(t.TempDir(), "outbox"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

// listDir returns the names in dir, failing the test when it cannot be read.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("failed to list %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %o, want %o", path, got, want)
	}
}

func TestOpenLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", "outbox")

	m, err := maildir.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if m.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", m.Dir(), dir)
	}
	for _, sub := range []string{"", "cur", "new", "tmp", maildir.RecordDir} {
		checkMode(t, filepath.Join(dir, sub), 0o700)
	}

	if _, err := maildir.Open(dir); err != nil {
		t.Errorf("Open of an existing Maildir: %v", err)
	}
}

func TestOpenInvalid(t *testing.T) {
	if _, err := maildir.Open(""); err == nil {
		t.Errorf("Open(\"\") succeeded, want an error")
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "new"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := maildir.Open(dir); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("error = %v, want one saying new is not a folder", err)
	}
}

func TestDeliverLayout(t *testing.T) {
	m := openTemp(t)
	rec := maildir.Record{
		Envelope: transport.Envelope{From: "alice@example.com", Recipients: []string{"bob@example.com", "carol@example.net"}},
		Via:      "ses",
	}

	path, err := m.Deliver(strings.NewReader(testMessage), rec)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}

	if filepath.Dir(path) != filepath.Join(m.Dir(), "new") {
		t.Errorf("message path %q is not in new/", path)
	}
	name := filepath.Base(path)
	if strings.HasPrefix(name, ".") || strings.ContainsAny(name, ":/") {
		t.Errorf("message name %q starts with a dot or contains ':' or '/'", name)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if !bytes.Equal(data, []byte(testMessage)) {
		t.Errorf("message file differs from the input:\ngot  %q\nwant %q", data, testMessage)
	}
	checkMode(t, path, 0o600)

	recordPath := filepath.Join(m.Dir(), maildir.RecordDir, name+".json")
	checkMode(t, recordPath, 0o600)
	if got := listDir(t, filepath.Join(m.Dir(), maildir.RecordDir)); len(got) != 1 {
		t.Errorf("record folder contains %q, want only the record", got)
	}
	if got := listDir(t, filepath.Join(m.Dir(), "tmp")); len(got) != 0 {
		t.Errorf("tmp/ contains %q, want nothing", got)
	}
	if got := listDir(t, filepath.Join(m.Dir(), "cur")); len(got) != 0 {
		t.Errorf("cur/ contains %q, want nothing", got)
	}
	if bytes.Contains(data, []byte("carol@example.net")) {
		t.Errorf("the Bcc recipient appears in the message file")
	}
}

// failingReader returns n bytes of a message, then an error.
type failingReader struct {
	n int
}

var errReader = errors.New("reader failed")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errReader
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestDeliverReaderFails(t *testing.T) {
	m := openTemp(t)

	_, err := m.Deliver(&failingReader{n: 100_000}, maildir.Record{Via: "outbox"})
	if !errors.Is(err, errReader) {
		t.Fatalf("error = %v, want the reader's error", err)
	}

	for _, sub := range []string{"new", "cur", "tmp", maildir.RecordDir} {
		if got := listDir(t, filepath.Join(m.Dir(), sub)); len(got) != 0 {
			t.Errorf("%s/ contains %q after a failed delivery, want nothing", sub, got)
		}
	}
	messages, err := m.Messages()
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	if len(messages) != 0 {
		t.Errorf("Messages() = %q, want none", messages)
	}
}

func TestDeliverUniqueNames(t *testing.T) {
	m := openTemp(t)
	const total = 1000
	const workers = 8

	var wg sync.WaitGroup
	errs := make(chan error, total)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				if _, err := m.Deliver(strings.NewReader(testMessage), maildir.Record{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Deliver: %v", err)
	}

	messages, err := m.Messages()
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	if len(messages) != total {
		t.Errorf("got %d messages, want %d", len(messages), total)
	}
	if got := listDir(t, filepath.Join(m.Dir(), maildir.RecordDir)); len(got) != total {
		t.Errorf("got %d records, want %d", len(got), total)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := openTemp(t)
	rec := maildir.Record{
		Envelope:  transport.Envelope{From: "alice@example.com", Recipients: []string{"bob@example.com", "carol@example.net"}},
		Via:       "ses",
		MessageID: "0100018e2b7c1f3a-8b1f6c2d-4e5a-4b3c-9d2e-1f0a9b8c7d6e-000000",
	}

	path, err := m.Deliver(strings.NewReader(testMessage), rec)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got, err := m.ReadRecord(path)
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("ReadRecord = %+v, want %+v", got, rec)
	}

	// A mail reader that has seen the message moves it to cur/ with flags.
	curPath := filepath.Join(m.Dir(), "cur", filepath.Base(path)+":2,S")
	if err := os.Rename(path, curPath); err != nil {
		t.Fatal(err)
	}
	got, err = m.ReadRecord(curPath)
	if err != nil {
		t.Fatalf("ReadRecord after the move to cur/: %v", err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("ReadRecord after the move to cur/ = %+v, want %+v", got, rec)
	}
}

func TestReadRecordMissing(t *testing.T) {
	m := openTemp(t)

	_, err := m.ReadRecord(filepath.Join(m.Dir(), "new", "1700000000.M1P1Q1Rff.host"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want one wrapping os.ErrNotExist", err)
	}
	if _, err := m.ReadRecord(".."); err == nil {
		t.Errorf("ReadRecord(\"..\") succeeded, want an error")
	}
}

func TestMessagesSorted(t *testing.T) {
	m := openTemp(t)
	var delivered []string
	for range 5 {
		path, err := m.Deliver(strings.NewReader(testMessage), maildir.Record{})
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		delivered = append(delivered, path)
	}
	// Move the second message to cur/, as a mail reader does.
	curPath := filepath.Join(m.Dir(), "cur", filepath.Base(delivered[1])+":2,S")
	if err := os.Rename(delivered[1], curPath); err != nil {
		t.Fatal(err)
	}
	delivered[1] = curPath
	// Files a reader leaves behind that are not messages.
	if err := os.WriteFile(filepath.Join(m.Dir(), "new", ".hidden"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(m.Dir(), "cur", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}

	got, err := m.Messages()
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	if !reflect.DeepEqual(got, delivered) {
		t.Errorf("Messages() =\n%q\nwant\n%q", got, delivered)
	}
}

func TestOutboxSend(t *testing.T) {
	m := openTemp(t)
	env := transport.Envelope{From: "alice@example.com", Recipients: []string{"bob@example.com"}}
	var tr transport.Transport = maildir.Outbox{Maildir: m}

	id, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	rec, err := m.ReadRecord(id)
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	want := maildir.Record{Envelope: env, Via: "outbox"}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("record = %+v, want %+v", rec, want)
	}
}

func TestOutboxSendCanceled(t *testing.T) {
	m := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := maildir.Outbox{Maildir: m}.Send(ctx, transport.Envelope{}, strings.NewReader(testMessage))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if got := listDir(t, filepath.Join(m.Dir(), "new")); len(got) != 0 {
		t.Errorf("new/ contains %q, want nothing", got)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"envelope":{"From":"a@example.com","Recipients":["b@example.com"]},"via":"ses","message_id":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := maildir.ParseRecord(data)
		if err != nil {
			return
		}
		// A record that parses need not round-trip byte for byte, but it
		// must parse again into the same value.
		again, err := maildir.ParseRecord(mustMarshal(t, rec))
		if err != nil {
			t.Fatalf("ParseRecord of a re-encoded record: %v", err)
		}
		if !reflect.DeepEqual(again, rec) {
			t.Errorf("re-encoded record = %+v, want %+v", again, rec)
		}
	})
}

func mustMarshal(t *testing.T, rec maildir.Record) []byte {
	t.Helper()
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("failed to encode the record: %v", err)
	}
	return data
}
