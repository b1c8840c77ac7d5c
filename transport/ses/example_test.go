package ses_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

func ExampleTransport_Send() {
	ctx := context.Background()
	t, err := ses.New(ctx, ses.Options{
		Region:           "eu-central-1",
		ConfigurationSet: "statements",
		Tags:             []ses.Tag{{Name: "kind", Value: "statement"}},
	})
	if err != nil {
		log.Fatal(err)
	}

	// raw is a complete message with CRLF line endings and no Bcc field,
	// as compose writes it. The Bcc recipient is in the envelope only.
	raw := "From: Alice <alice@example.com>\r\n" +
		"To: bob@example.com\r\n" +
		"Subject: Hello\r\n" +
		"\r\n" +
		"Hello Bob.\r\n"
	env := transport.Envelope{
		From:       "alice@example.com",
		Recipients: []string{"bob@example.com", "carol@example.net"},
	}

	id, err := t.Send(ctx, env, strings.NewReader(raw))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("SES message ID:", id)
}
