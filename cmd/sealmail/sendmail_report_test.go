package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/spool"
)

// TestSendmailReportNamesEntryOnce checks that a copy whose error comes from
// sendEntry, which names the queue entry itself, is reported with the entry
// named once, by the report.
func TestSendmailReportNamesEntryOnce(t *testing.T) {
	accepted := compose.Copy{Envelope: transport.Envelope{Recipients: []string{"bob@example.org"}}}
	maybeSent := compose.Copy{Envelope: transport.Envelope{Recipients: []string{"carol@example.org"}}, Bcc: "carol@example.org"}
	// The record of the outcome could not be written, so the entry has no
	// last error and the report takes the cause from the send's error.
	entry := spool.Entry{ID: "20250101T000000-abcdef", State: spool.StateUnconfirmed}
	sendErr := &queuedError{err: errors.New("failed to write the spool record: no space left on device"), entry: entry}
	report := &sendmailReport{
		status:     exitIOErr,
		via:        "smtp",
		results:    []sendResult{{copy: accepted, id: "ID1"}, {copy: maybeSent, err: sendErr}},
		outcomes:   []copyOutcome{copyAccepted, copyUncertain},
		queued:     []*spool.Entry{nil, &entry},
		kept:       true,
		removeErrs: make([]error, 2),
	}

	text := report.String()
	var line string
	for l := range strings.Lines(text) {
		if strings.Contains(l, "Bcc copy for carol@example.org") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("the report has no line for the Bcc copy:\n%s", text)
	}
	if !strings.Contains(line, "no space left on device") {
		t.Errorf("the line of the Bcc copy lacks the cause: %q", line)
	}
	if n := strings.Count(line, entry.ID); n != 1 {
		t.Errorf("the line of the Bcc copy names the entry %d times, want once: %q", n, line)
	}
	if n := strings.Count(text, "kept in the queue as"); n != 1 {
		t.Errorf("the report says %d times that the entry is kept in the queue, want once:\n%s", n, text)
	}
	if !strings.Contains(text, "sealmail queue retry "+entry.ID) {
		t.Errorf("the report lacks the retry command for the entry:\n%s", text)
	}
}
