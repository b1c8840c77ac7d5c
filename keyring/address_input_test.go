package keyring

import (
	"bytes"
	"context"
	"testing"
)

// Input for one address, as a Web Key Directory serves it, is taken only as
// OpenPGP keys, so that a served message or certificate stores nothing.
func TestImportForAddressOnlyOpenPGP(t *testing.T) {
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	cert, _ := selfSignedCertificate(t)
	tests := []struct {
		name  string
		input []byte
	}{
		{"message with an Autocrypt header", autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, bob))},
		{"PEM certificate", certPEM(cert)},
		{"DER certificate", cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := openTemp(t)
			_, err := k.ImportWithOptions(context.Background(), bytes.NewReader(tt.input), ImportOptions{
				Origin: OriginWKD, Source: "https://openpgpkey.example.org/", Address: "bob@example.org", PublicOnly: true,
			})
			if err == nil {
				t.Fatal("ImportWithOptions took the input for one address")
			}
			assertEmpty(t, k)
		})
	}

	k := openTemp(t)
	imported, err := k.ImportWithOptions(context.Background(), bytes.NewReader(publicBytes(t, bob)), ImportOptions{
		Origin: OriginWKD, Source: "https://openpgpkey.example.org/", Address: "bob@example.org", PublicOnly: true,
	})
	if err != nil || len(imported) != 1 {
		t.Fatalf("ImportWithOptions of the key = %v, %v; want one key", imported, err)
	}
}
