package spool_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
	"github.com/sealmail/sealmail/transport/spool"
)

// A message is added to the spool before the first attempt, and leaves it
// only once the transport accepted it.
func ExampleSpool_Send() {
	dir, err := os.MkdirTemp("", "spool-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	sp, err := spool.Open(filepath.Join(dir, "spool"))
	if err != nil {
		log.Fatal(err)
	}
	raw := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Hi\r\n\r\nHello.\r\n"
	env := transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org"}}
	entry, err := sp.Add(env, strings.NewReader(raw), spool.Meta{Transport: "outbox"})
	if err != nil {
		log.Fatal(err)
	}

	box, err := maildir.Open(filepath.Join(dir, "outbox"))
	if err != nil {
		log.Fatal(err)
	}
	entry, err = sp.Send(context.Background(), entry.ID, maildir.Outbox{Maildir: box})
	if err != nil {
		log.Fatal(err)
	}
	left, err := sp.List()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(entry.State, entry.Attempts, len(left))
	// Output:
	// accepted 1 0
}
