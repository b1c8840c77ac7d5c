// Command send is the smallest program that embeds sealmail: it signs and
// encrypts one message to recipients from a keyring and sends it through
// Amazon SES, or writes it to a Maildir with -outbox.
//
//	go run ./examples/send -keyring ~/.local/share/sealmail/keyring \
//	    -from you@example.org -to bob@example.org -outbox /tmp/outbox
//
// The passphrase of the sender's key is read from SEALMAIL_PASSPHRASE.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net/mail"
	"os"
	"os/signal"
	"time"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
	"github.com/sealmail/sealmail/transport/ses"
)

func main() {
	keyringDir := flag.String("keyring", "", "the keyring folder")
	from := flag.String("from", "", "the sender's address")
	to := flag.String("to", "", "the recipient's address")
	outbox := flag.String("outbox", "", "write to this Maildir instead of sending through SES")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := send(ctx, *keyringDir, *from, *to, *outbox); err != nil {
		log.Fatal(err)
	}
}

func send(ctx context.Context, keyringDir, from, to, outbox string) error {
	kr, err := keyring.Open(keyringDir)
	if err != nil {
		return err
	}

	// The sender's secret key signs; the keyring also resolves every
	// recipient's certificate and the sender's own, for encryption to self.
	signer, err := kr.SigningKey(ctx, from, time.Now())
	if err != nil {
		return err
	}
	if keyring.Locked(signer) {
		if err := keyring.Unlock(signer, []byte(os.Getenv("SEALMAIL_PASSPHRASE"))); err != nil {
			return err
		}
	}

	m := &compose.Message{
		From:    &mail.Address{Address: from},
		To:      []*mail.Address{{Address: to}},
		Subject: "Your statement",
		Text:    []byte("Hello,\n\nyour statement is ready.\n"),
	}
	c, err := compose.New(ctx, m, compose.Options{Signer: signer, Keys: kr})
	if err != nil {
		return err // a *compose.RecipientError names every recipient without a usable key
	}

	var t transport.Transport
	if outbox != "" {
		box, err := maildir.Open(outbox)
		if err != nil {
			return err
		}
		t = maildir.Outbox{Maildir: box}
	} else if t, err = ses.New(ctx, ses.Options{}); err != nil {
		return err
	}

	// Each WriteCopy signs and encrypts anew, so every copy is written once
	// and checked before the first is sent. A retry then sends the same bytes.
	copies := c.Copies()
	raws := make([][]byte, len(copies))
	for i, cp := range copies {
		var raw bytes.Buffer
		if err := c.WriteCopy(ctx, &raw, i); err != nil {
			return err
		}
		if err := ses.Check(cp.Envelope, raw.Bytes()); err != nil {
			return err
		}
		raws[i] = raw.Bytes()
	}
	for i, cp := range copies {
		id, err := t.Send(ctx, cp.Envelope, bytes.NewReader(raws[i]))
		if err != nil {
			return err
		}
		fmt.Println(cp.Envelope.Recipients, id)
	}
	return nil
}
