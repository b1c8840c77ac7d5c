package mailkeys

import (
	"encoding/base64"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func FuzzExtract(f *testing.F) {
	public, secret := testKeys(f)
	keydata := base64.StdEncoding.EncodeToString(public)
	armoredKey := string(armored(f, openpgp.PublicKeyType, public))

	f.Add(message("Autocrypt: addr=bob@example.org; prefer-encrypt=mutual; keydata=" + folded(public)))
	f.Add(message("Autocrypt: addr=bob@example.org; _x=1; keydata="+keydata, "Autocrypt: addr=bob@example.org; type=1; keydata="+keydata))
	f.Add(crlf("From: bob@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pgp-keys\n\n" + armoredKey + "\n--b--\n"))
	f.Add(crlf("From: bob@example.org\nContent-Type: multipart/signed; boundary=s\n\n--s\nContent-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: application/pgp-keys\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString(secret) + "\n--m--\n--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n"))
	f.Add(crlf("From: bob@example.org\nContent-Type: multipart/encrypted; boundary=e\n\n--e\nContent-Type: application/pgp-keys\n\n" + armoredKey + "\n--e--\n"))
	f.Add(crlf("From: bob@example.org\nContent-Type: application/pgp-keys\nContent-Transfer-Encoding: quoted-printable\n\n=2D=2D=2D=2D=2DBEGIN\n"))
	f.Add([]byte("From x\n" + strings.Repeat("Content-Type: multipart/mixed; boundary=a\n\n--a\n", 20)))
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add(public)
	f.Add(certsOnlyMessage(`Content-Type: application/pkcs7-mime; smime-type=certs-only; name="smime.p7c"`, testSignedData))
	f.Add(certsOnlyMessage(`Content-Type: application/octet-stream; name="bob.p7c"`, []byte("-----BEGIN PKCS7-----\n")))
	f.Add(certsOnlyMessage(`Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data`, testSignedData))

	f.Fuzz(func(t *testing.T, data []byte) {
		result, err := Extract(data)
		if err != nil {
			if result != nil {
				t.Fatalf("Extract returned a result with the error %v", err)
			}
			return
		}
		for i, key := range result.Keys {
			if key.Kind != KindAutocrypt && key.Kind != KindAttached {
				t.Errorf("key %d has kind %q", i, key.Kind)
			}
			if key.Address == "" || len(key.Data) == 0 || key.Location == "" {
				t.Errorf("key %d is incomplete: %+v", i, key)
			}
			if key.Kind == KindAutocrypt && i != 0 {
				t.Errorf("key %d is an Autocrypt key, but only the first key may be one", i)
			}
		}
		for i, part := range result.CertsOnly {
			if len(part.Data) == 0 || part.Location == "" {
				t.Errorf("certs-only part %d is incomplete: %+v", i, part)
			}
		}
		for i, location := range result.Unread {
			if location == "" {
				t.Errorf("unread entity %d has no location", i)
			}
		}
	})
}
