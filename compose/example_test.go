package compose_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/mail"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/compose"
)

// keyMap is a KeySource that holds its keys in memory; a program would
// usually pass a *keyring.Keyring.
type keyMap map[string]*openpgp.Entity

func (k keyMap) EncryptionKey(_ context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	if e, ok := k[address]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("no key for %s", address)
}

func ExampleNew() {
	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	alice, err := openpgp.NewEntity("Alice", "", "alice@example.org", config)
	if err != nil {
		log.Fatal(err)
	}
	bob, err := openpgp.NewEntity("Bob", "", "bob@example.org", config)
	if err != nil {
		log.Fatal(err)
	}

	to, err := compose.ParseAddressList(`"Bob, from accounting" <bob@example.org>`)
	if err != nil {
		log.Fatal(err)
	}
	m := &compose.Message{
		From:    &mail.Address{Name: "Alice", Address: "alice@example.org"},
		To:      to,
		Subject: "Statement",
		Text:    []byte("Your statement is attached.\n"),
		Attachments: []compose.Attachment{{
			Filename: "statement.csv",
			Open:     func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("date,amount\n")), nil },
		}},
	}

	// The zero Mode signs and encrypts, to Bob and to Alice herself.
	ctx := context.Background()
	c, err := compose.New(ctx, m, compose.Options{
		Signer: alice,
		Keys:   keyMap{"alice@example.org": alice, "bob@example.org": bob},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, cp := range c.Copies() {
		var raw bytes.Buffer
		if err := c.WriteCopy(ctx, &raw, i); err != nil {
			log.Fatal(err)
		}
		// A program hands cp.Envelope and raw to a transport here.
		fmt.Println(cp.Envelope.Recipients, bytes.Contains(raw.Bytes(), []byte("-----BEGIN PGP MESSAGE-----")))
	}
	// Output: [bob@example.org] true
}

// ExampleOptions_privacy writes a signed-only message with the sender's key
// attached and an Autocrypt header that requests encrypted replies. Header
// protection is on by default. With encryption, it would also replace the
// outer Subject with "[...]".
func ExampleOptions_privacy() {
	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	alice, err := openpgp.NewEntity("Alice", "", "alice@example.org", config)
	if err != nil {
		log.Fatal(err)
	}

	m := &compose.Message{
		From:    &mail.Address{Name: "Alice", Address: "alice@example.org"},
		To:      []*mail.Address{{Address: "bob@example.org"}},
		Subject: "My new key",
		Text:    []byte("My key is attached; please write to me encrypted.\n"),
	}
	ctx := context.Background()
	c, err := compose.New(ctx, m, compose.Options{
		Mode:      compose.SignOnly,
		Signer:    alice,
		AttachKey: true,
		Autocrypt: compose.AutocryptOptions{PreferEncrypt: true},
	})
	if err != nil {
		log.Fatal(err)
	}

	var raw bytes.Buffer
	if err := c.WriteCopy(ctx, &raw, 0); err != nil {
		log.Fatal(err)
	}

	for _, want := range []string{
		"\r\nAutocrypt: addr=alice@example.org; prefer-encrypt=mutual; keydata=\r\n",
		`hp="clear"`,
		"\r\nSubject: My new key\r\n", // the copy inside the signed part
		"Content-Type: application/pgp-keys",
	} {
		fmt.Println(strings.Contains(raw.String(), want))
	}
	// Output:
	// true
	// true
	// true
	// true
}
