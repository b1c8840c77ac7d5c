package smtp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/smtp"
)

// Send a message through the SES SMTP interface of eu-central-1 on port 587
// with STARTTLS, with the SMTP password derived from the secret access key.
func Example() {
	password, err := smtp.SESPassword(os.Getenv("AWS_SECRET_ACCESS_KEY"), "eu-central-1")
	if err != nil {
		log.Fatal(err)
	}
	t, err := smtp.New(smtp.Options{
		Host:     "email-smtp.eu-central-1.amazonaws.com",
		Username: os.Getenv("AWS_ACCESS_KEY_ID"),
		Password: password,
	})
	if err != nil {
		log.Fatal(err)
	}

	raw := strings.NewReader("From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Hi\r\n\r\nHello.\r\n")
	env := transport.Envelope{From: "alice@example.org", Recipients: []string{"bob@example.org"}}
	id, err := t.Send(context.Background(), env, raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted as", id)
}

func ExampleSESPassword() {
	password, err := smtp.SESPassword("some+secret+key", "eu-central-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(password)
	// Output: BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2
}
