package keyring_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/sealmail/sealmail/keyring"
)

// A program imports a recipient's certificate once and then looks up the
// key to encrypt to by address.
func ExampleKeyring_EncryptionKey() {
	dir, err := os.MkdirTemp("", "keyring-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	kr, err := keyring.Open(dir)
	if err != nil {
		log.Fatal(err)
	}

	// In a real program the certificate comes from the recipient.
	bob, err := keyring.Generate("Bob", "bob@example.org", keyring.GenerateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	var cert bytes.Buffer
	w, err := armor.Encode(&cert, "PGP PUBLIC KEY BLOCK", nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := bob.Serialize(w); err != nil {
		log.Fatal(err)
	}
	w.Close()
	if _, err := kr.Import(context.Background(), &cert); err != nil {
		log.Fatal(err)
	}

	key, err := kr.EncryptionKey(context.Background(), "Bob@Example.org", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Equal(key.PrimaryKey.Fingerprint, bob.PrimaryKey.Fingerprint))

	_, err = kr.EncryptionKey(context.Background(), "carol@example.org", time.Now())
	fmt.Println(err)
	// Output:
	// true
	// no key for "carol@example.org" in the keyring; import one with "sealmail keyring import"
}
