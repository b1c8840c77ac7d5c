// Package maildir delivers messages into a Maildir, the format of
// https://cr.yp.to/proto/maildir.html that notmuch, mutt and Dovecot read.
// sealmail uses it for the outbox and for the sent copies.
//
// A message is written to tmp/ under a unique name, synced to disk and
// renamed into new/, so a reader never sees part of a message. The bytes are
// stored as given, CRLF line endings included, because the sent copy of a
// signed message must stay byte for byte what was signed.
//
// The Maildir specification leaves no room for anything but messages in
// cur/, new/ and tmp/. The [Record] of each message, with its envelope
// recipients, is kept as JSON in the folder .sealmail/ beside them. mutt
// reads only cur/ and new/. notmuch 0.37 scans .sealmail/ too but skips the
// JSON files as non-mail, with a note on each run that the notmuch setting
// new.ignore=.sealmail silences.
package maildir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sealmail/sealmail/internal/atomicfile"
	"github.com/sealmail/sealmail/transport"
)

// RecordDir is the folder inside a Maildir that keeps the records.
const RecordDir = ".sealmail"

// Maildir is one Maildir folder with its cur, new and tmp folders. It is
// safe for concurrent use.
type Maildir struct {
	dir      string
	hostname string
	// deliveries counts the unique names made by this value, so that two
	// names made in the same microsecond differ.
	deliveries atomic.Uint64
}

// Open opens the Maildir at dir, creating it, its cur, new and tmp folders
// and the record folder with mode 0700 if needed.
func Open(dir string) (*Maildir, error) {
	if dir == "" {
		return nil, errors.New("missing Maildir folder")
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create Maildir %q: %w", dir, err)
	}
	for _, sub := range []string{"cur", "new", "tmp", RecordDir} {
		path := filepath.Join(dir, sub)
		if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("failed to create Maildir folder %q: %w", path, err)
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("failed to open Maildir folder %q: %w", path, err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("invalid Maildir %q: %q is not a folder", dir, path)
		}
	}

	m := &Maildir{dir: dir, hostname: maildirHostname()}
	return m, nil
}

// Dir returns the folder of the Maildir.
func (m *Maildir) Dir() string { return m.dir }

// Record is what is kept beside each message, never in its header.
type Record struct {
	Envelope transport.Envelope `json:"envelope"`
	// Via names the transport that accepted the copy ("ses", "outbox").
	Via string `json:"via,omitempty"`
	// MessageID is the identifier the transport assigned, such as the SES
	// message ID.
	MessageID string `json:"message_id,omitempty"`
}

// Deliver writes raw into new/ atomically (tmp/, fsync, rename) and its
// Record beside it. It returns the path of the message file.
//
// The record is written first, so that a reader who finds the message in
// new/ also finds its record. When reading raw or writing fails, neither
// the message nor the record is left behind.
func (m *Maildir) Deliver(raw io.Reader, rec Record) (path string, err error) {
	name, err := m.uniqueName()
	if err != nil {
		return "", err
	}

	recordJSON, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("failed to encode the record of %q: %w", name, err)
	}
	recordPath := m.recordPath(name)
	if err := writeFileAtomic(recordPath, append(recordJSON, '\n')); err != nil {
		return "", err
	}

	path, err = m.deliverMessage(name, raw)
	if err != nil {
		os.Remove(recordPath)
		return "", err
	}
	return path, nil
}

// deliverMessage writes raw to tmp/name, syncs it and renames it to
// new/name, then syncs new/.
func (m *Maildir) deliverMessage(name string, raw io.Reader) (string, error) {
	tmpPath := filepath.Join(m.dir, "tmp", name)
	f, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("failed to create %q: %w", tmpPath, err)
	}

	_, err = io.Copy(f, raw)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(tmpPath)
		return "", fmt.Errorf("failed to write message %q: %w", tmpPath, err)
	}

	newPath := filepath.Join(m.dir, "new", name)
	if err := os.Rename(tmpPath, newPath); err != nil {
		os.Remove(tmpPath)
		return "", fmt.Errorf("failed to move message %q into new/: %w", name, err)
	}
	if err := syncDir(filepath.Join(m.dir, "new")); err != nil {
		os.Remove(newPath)
		return "", err
	}
	return newPath, nil
}

// ReadRecord returns the Record kept for the message file at path, in new/
// or, after a mail reader moved it, in cur/ with an info suffix.
func (m *Maildir) ReadRecord(path string) (Record, error) {
	name := uniquePart(filepath.Base(path))
	if name == "" || name == "." || name == ".." {
		return Record{}, fmt.Errorf("invalid message path %q", path)
	}

	data, err := os.ReadFile(m.recordPath(name))
	if err != nil {
		return Record{}, fmt.Errorf("failed to read the record of %q: %w", path, err)
	}
	rec, err := ParseRecord(data)
	if err != nil {
		return Record{}, fmt.Errorf("failed to read the record of %q: %w", path, err)
	}
	return rec, nil
}

// ParseRecord decodes a record as Deliver writes it.
func ParseRecord(data []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("invalid record: %w", err)
	}
	return rec, nil
}

// Messages returns the paths of the message files in new/ and cur/, sorted
// by file name, which starts with the delivery time in seconds.
func (m *Maildir) Messages() ([]string, error) {
	var paths []string
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(m.dir, sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("failed to list Maildir folder %q: %w", dir, err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}

	slices.SortFunc(paths, func(a, b string) int {
		if c := strings.Compare(filepath.Base(a), filepath.Base(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return paths, nil
}

func (m *Maildir) recordPath(name string) string {
	return filepath.Join(m.dir, RecordDir, name+".json")
}

// uniqueName returns a name for a new message in the form the Maildir
// specification recommends: seconds, then ".M" microseconds, "P" process ID,
// "Q" delivery counter and "R" random hex, then "." and the host name.
func (m *Maildir) uniqueName() (string, error) {
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("failed to make a unique message name: %w", err)
	}

	now := time.Now()
	name := fmt.Sprintf("%d.M%06dP%dQ%dR%s.%s",
		now.Unix(), now.Nanosecond()/1000, os.Getpid(), m.deliveries.Add(1),
		hex.EncodeToString(random[:]), m.hostname)
	return name, nil
}

// uniquePart returns a message file name without the info suffix (":2,S"
// and the like) that mail readers add when they move a message to cur/.
func uniquePart(name string) string {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i]
	}
	return name
}

// maildirHostname returns the host name with "/" and ":" replaced by the
// octal escapes \057 and \072, as the Maildir specification requires.
func maildirHostname() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
}

// writeFileAtomic replaces path with data atomically, as package
// atomicfile describes.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, "."+filepath.Base(path)+".tmp-*")
}

func syncDir(dir string) error {
	return atomicfile.SyncDir(dir)
}

// Outbox is a transport that delivers into a Maildir.
type Outbox struct{ Maildir *Maildir }

// Send implements transport.Transport; the id is the message file's path.
func (o Outbox) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("failed to deliver to the outbox: %w", err)
	}
	return o.Maildir.Deliver(raw, Record{Envelope: env, Via: "outbox"})
}
