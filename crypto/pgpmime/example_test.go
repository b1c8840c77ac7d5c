package pgpmime_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/crypto/pgpmime"
)

func ExampleEncrypt() {
	// Keys that GnuPG 2.2 reads: v4 EdDSA with Curve25519.
	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultCipher: packet.CipherAES256}
	alice, err := openpgp.NewEntity("Alice", "", "alice@example.org", config)
	if err != nil {
		log.Fatal(err)
	}
	bob, err := openpgp.NewEntity("Bob", "", "bob@example.org", config)
	if err != nil {
		log.Fatal(err)
	}

	entity := func(w io.Writer) error {
		_, err := io.WriteString(w, "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob\r\n")
		return err
	}

	// Sign with Alice's key and encrypt to Bob and to Alice, so the sent
	// copy stays readable.
	var message bytes.Buffer
	if err := pgpmime.Encrypt(&message, []*openpgp.Entity{bob, alice}, alice, entity, nil); err != nil {
		log.Fatal(err)
	}

	opened, err := pgpmime.Open(&message, openpgp.EntityList{bob, alice}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("encrypted to %d keys, signature verified: %v\n", len(opened.RecipientKeyIDs), opened.Signed && opened.SignatureErr == nil)
	fmt.Printf("%q\n", opened.Entity)
	// Output:
	// encrypted to 2 keys, signature verified: true
	// "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob\r\n"
}

func ExampleSign() {
	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	alice, err := openpgp.NewEntity("Alice", "", "alice@example.org", config)
	if err != nil {
		log.Fatal(err)
	}

	var message bytes.Buffer
	err = pgpmime.Sign(&message, alice, func(w io.Writer) error {
		_, err := io.WriteString(w, "Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned text\r\n")
		return err
	}, nil)
	if err != nil {
		log.Fatal(err)
	}

	opened, err := pgpmime.Open(&message, openpgp.EntityList{alice}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("hash:", opened.Hash, "verified:", opened.SignatureErr == nil)
	// Output:
	// hash: sha256 verified: true
}
