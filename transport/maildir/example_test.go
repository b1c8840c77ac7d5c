package maildir_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
)

// The outbox is a transport like SES: a program hands it a raw message and
// its envelope, and gets the path of the message file back.
func ExampleOutbox_Send() {
	dir, err := os.MkdirTemp("", "maildir-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	box, err := maildir.Open(filepath.Join(dir, "outbox"))
	if err != nil {
		log.Fatal(err)
	}
	var t transport.Transport = maildir.Outbox{Maildir: box}
	raw := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Hi\r\n\r\nHello.\r\n"
	env := transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org", "carol@example.org"}}

	path, err := t.Send(context.Background(), env, strings.NewReader(raw))
	if err != nil {
		log.Fatal(err)
	}
	rec, err := box.ReadRecord(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(filepath.Dir(path)), rec.Via, rec.Envelope.Recipients)
	// Output:
	// new outbox [bob@example.org carol@example.org]
}
