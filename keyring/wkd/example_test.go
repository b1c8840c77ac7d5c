package wkd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/keyring/wkd"
)

// URLs returns the advanced and the direct URL of the example address of
// draft-koch-openpgp-webkey-service, with the domain mapped to lowercase.
func ExampleURLs() {
	advanced, direct, err := wkd.URLs("Joe.Doe@Example.ORG")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(advanced)
	fmt.Println(direct)
	// Output:
	// https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe
	// https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe
}

// A program looks up a recipient's key and stores it in its keyring with
// the user IDs for that address only, as "sealmail keyring fetch" does.
func ExampleLookup() {
	kr, err := keyring.Open("keyring")
	if err != nil {
		log.Fatal(err)
	}

	const address = "bob@example.org"
	result, err := wkd.Lookup(context.Background(), nil, address)
	if errors.Is(err, wkd.ErrNotFound) {
		fmt.Printf("%s publishes no key; ask for it\n", address)
		return
	}
	if err != nil {
		log.Fatal(err)
	}

	imported, err := kr.ImportWithOptions(context.Background(), bytes.NewReader(result.Key), keyring.ImportOptions{
		Origin:     keyring.OriginWKD,
		Source:     result.URL,
		Address:    address,
		PublicOnly: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range imported {
		fmt.Printf("stored %s from %s\n", k.Fingerprint, result.URL)
	}
}
