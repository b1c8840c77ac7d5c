package mailkeys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"mime/quotedprintable"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

var (
	testKeyOnce   sync.Once
	testPublicKey []byte
	testSecretKey []byte
)

// testKeys returns a binary certificate and secret key for
// bob@example.org, made once for the whole test binary.
func testKeys(t testing.TB) (public, secret []byte) {
	t.Helper()
	testKeyOnce.Do(func() {
		config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
		e, err := openpgp.NewEntity("Bob", "", "bob@example.org", config)
		if err != nil {
			panic(err)
		}
		var pub, sec bytes.Buffer
		if err := e.Serialize(&pub); err != nil {
			panic(err)
		}
		if err := e.SerializePrivateWithoutSigning(&sec, nil); err != nil {
			panic(err)
		}
		testPublicKey, testSecretKey = pub.Bytes(), sec.Bytes()
	})
	return testPublicKey, testSecretKey
}

// armored returns data as an armored block of blockType.
func armored(t testing.TB, blockType string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// folded returns the base64 of data folded into lines of 76 characters,
// each continuation line starting with a space, as a header field value.
func folded(data []byte) string {
	encoded := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(encoded) > 76 {
		lines = append(lines, encoded[:76])
		encoded = encoded[76:]
	}
	lines = append(lines, encoded)
	return strings.Join(lines, "\r\n ")
}

// crlf turns the LF line endings of s into CRLF.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// message returns a text/plain message from bob@example.org with the extra
// header fields.
func message(fields ...string) []byte {
	header := "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: hi\r\n"
	for _, field := range fields {
		header += field + "\r\n"
	}
	return []byte(header + "\r\nHello.\r\n")
}

func extract(t *testing.T, data []byte) *Result {
	t.Helper()
	result, err := Extract(data)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	return result
}

func TestAutocryptHeader(t *testing.T) {
	public, _ := testKeys(t)
	keydata := folded(public)

	tests := []struct {
		name          string
		fields        []string
		wantKey       bool
		preferEncrypt bool
		ignored       string
	}{
		{"folded keydata", []string{"Autocrypt: addr=bob@example.org; keydata=\r\n " + keydata}, true, false, ""},
		{"prefer-encrypt mutual", []string{"Autocrypt: addr=bob@example.org; prefer-encrypt=mutual; keydata=" + keydata}, true, true, ""},
		{"prefer-encrypt other value", []string{"Autocrypt: addr=bob@example.org; prefer-encrypt=always; keydata=" + keydata}, true, false, ""},
		{"non-critical attribute ignored", []string{"Autocrypt: addr=bob@example.org; _extra=1; keydata=" + keydata}, true, false, ""},
		{"addr differs only in case", []string{"Autocrypt: addr=Bob@Example.ORG; keydata=" + keydata}, true, false, ""},
		{"keydata before addr", []string{"Autocrypt: keydata=" + keydata + "; addr=bob@example.org"}, true, false, ""},
		{"unknown critical attribute", []string{"Autocrypt: addr=bob@example.org; type=2; keydata=" + keydata}, false, false, `unknown critical attribute "type"`},
		{"two valid headers", []string{
			"Autocrypt: addr=bob@example.org; keydata=" + keydata,
			"Autocrypt: addr=bob@example.org; prefer-encrypt=mutual; keydata=" + keydata,
		}, false, false, "2 valid Autocrypt header fields"},
		{"one valid among invalid", []string{
			"Autocrypt: addr=bob@example.org; critical=yes; keydata=" + keydata,
			"Autocrypt: addr=bob@example.org; keydata=" + keydata,
		}, true, false, `unknown critical attribute "critical"`},
		{"addr differs from From", []string{"Autocrypt: addr=mallory@example.org; keydata=" + keydata}, false, false, `is for "mallory@example.org", not for the From address`},
		{"missing keydata", []string{"Autocrypt: addr=bob@example.org; prefer-encrypt=mutual"}, false, false, "keydata attribute is missing"},
		{"missing addr", []string{"Autocrypt: keydata=" + keydata}, false, false, "addr attribute is missing"},
		{"keydata not base64", []string{"Autocrypt: addr=bob@example.org; keydata=!!!!"}, false, false, "not valid base64"},
		{"keydata not a key", []string{"Autocrypt: addr=bob@example.org; keydata=" + base64.StdEncoding.EncodeToString([]byte("hello"))}, false, false, "not an OpenPGP key"},
		{"attribute twice", []string{"Autocrypt: addr=bob@example.org; addr=bob@example.org; keydata=" + keydata}, false, false, "more than once"},
		{"too large", []string{"Autocrypt: addr=bob@example.org; _pad=" + strings.Repeat("x", 11<<10) + "; keydata=" + keydata}, false, false, "larger than 10 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result := extract(t, message(tt.fields...))

			if !tt.wantKey {
				if len(result.Keys) != 0 {
					t.Fatalf("Keys = %d, want none", len(result.Keys))
				}
			} else {
				if len(result.Keys) != 1 {
					t.Fatalf("Keys = %d, want 1 (ignored: %q)", len(result.Keys), result.Ignored)
				}
				key := result.Keys[0]
				if key.Kind != KindAutocrypt {
					t.Errorf("Kind = %q, want %q", key.Kind, KindAutocrypt)
				}
				if !strings.EqualFold(key.Address, "bob@example.org") {
					t.Errorf("Address = %q, want bob@example.org", key.Address)
				}
				if !bytes.Equal(key.Data, public) {
					t.Error("Data differs from the key in the header")
				}
				if key.PreferEncrypt != tt.preferEncrypt {
					t.Errorf("PreferEncrypt = %v, want %v", key.PreferEncrypt, tt.preferEncrypt)
				}
			}
			if got := strings.Join(result.Ignored, "\n"); !strings.Contains(got, tt.ignored) {
				t.Errorf("Ignored = %q, want it to mention %q", got, tt.ignored)
			}
			if tt.ignored == "" && len(result.Ignored) != 0 {
				t.Errorf("Ignored = %q, want nothing", result.Ignored)
			}
		})
	}
}

func TestAutocryptNeedsSingleFrom(t *testing.T) {
	public, _ := testKeys(t)
	header := "Autocrypt: addr=bob@example.org; keydata=" + folded(public) + "\r\n"
	tests := []struct {
		name, from, ignored string
	}{
		{"no From", "", "no From header field"},
		{"two addresses", "From: bob@example.org, carol@example.org\r\n", "2 addresses"},
		{"two fields", "From: bob@example.org\r\nFrom: bob@example.org\r\n", "2 From header fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result := extract(t, []byte(tt.from+header+"Subject: hi\r\n\r\nHello.\r\n"))
			if len(result.Keys) != 0 {
				t.Errorf("Keys = %d, want none", len(result.Keys))
			}
			if got := strings.Join(result.Ignored, "\n"); !strings.Contains(got, tt.ignored) {
				t.Errorf("Ignored = %q, want it to mention %q", got, tt.ignored)
			}
		})
	}
}

func TestFromWithUnknownCharset(t *testing.T) {
	result := extract(t, crlf("From: =?x-unknown?q?Bob?= <bob@example.org>\n\nHello.\n"))
	if result.From != "bob@example.org" {
		t.Errorf("From = %q, want bob@example.org", result.From)
	}
}

func TestAttachedKeyNested(t *testing.T) {
	public, _ := testKeys(t)
	armoredKey := armored(t, openpgp.PublicKeyType, public)
	data := crlf(`From: Bob <bob@example.org>
To: alice@example.org
Subject: my key
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

Here is my key.
--inner
Content-Type: multipart/mixed; boundary="deep"

--deep
Content-Type: application/pgp-keys; name="bob.asc"
Content-Transfer-Encoding: 7bit

` + string(armoredKey) + `
--deep--
--inner--
--outer--
`)
	result := extract(t, data)
	if len(result.Keys) != 1 {
		t.Fatalf("Keys = %d, want 1", len(result.Keys))
	}
	key := result.Keys[0]
	if key.Kind != KindAttached || key.Address != "bob@example.org" {
		t.Errorf("key is %s for %q, want attached for bob@example.org", key.Kind, key.Address)
	}
	if want := `part 1.2.1 (application/pgp-keys, "bob.asc")`; key.Location != want {
		t.Errorf("Location = %q, want %q", key.Location, want)
	}
	if !bytes.Contains(key.Data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Errorf("Data is not the armored key:\n%s", key.Data)
	}
}

func TestAttachedKeyEncodings(t *testing.T) {
	public, _ := testKeys(t)
	armoredKey := armored(t, openpgp.PublicKeyType, public)
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write(armoredKey)
	w.Close()

	tests := []struct {
		name, encoding, body string
		want                 []byte
	}{
		{"base64 binary", "base64", folded(public), public},
		{"base64 armored", "base64", folded(armoredKey), armoredKey},
		{"quoted-printable", "quoted-printable", qp.String(), armoredKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := crlf("From: bob@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nHi.\n--b\nContent-Type: application/pgp-keys\nContent-Transfer-Encoding: " +
				tt.encoding + "\nContent-Disposition: attachment; filename=key.asc\n\n" + strings.ReplaceAll(tt.body, "\r\n", "\n") + "\n--b--\n")
			result := extract(t, data)
			if len(result.Keys) != 1 {
				t.Fatalf("Keys = %d, want 1", len(result.Keys))
			}
			got := bytes.ReplaceAll(result.Keys[0].Data, []byte("\r\n"), []byte("\n"))
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(tt.want)) {
				t.Errorf("Data = %q, want %q", got, tt.want)
			}
			if want := `part 2 (application/pgp-keys, "key.asc")`; result.Keys[0].Location != want {
				t.Errorf("Location = %q, want %q", result.Keys[0].Location, want)
			}
		})
	}
}

func TestAttachedKeyInsideEncryptedNotTaken(t *testing.T) {
	public, _ := testKeys(t)
	key := string(armored(t, openpgp.PublicKeyType, public))
	tests := []struct {
		name, body string
	}{
		{"multipart/encrypted", `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=enc

--enc
Content-Type: application/pgp-encrypted

Version: 1
--enc
Content-Type: application/pgp-keys

` + key + `
--enc--
`},
		{"application/pkcs7-mime", `Content-Type: application/pkcs7-mime; smime-type=enveloped-data

` + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result := extract(t, crlf("From: bob@example.org\nMIME-Version: 1.0\n"+tt.body))
			if len(result.Keys) != 0 {
				t.Errorf("Keys = %d, want none from inside %s", len(result.Keys), tt.name)
			}
			want := "the message body (" + tt.name + ")"
			if len(result.Unread) != 1 || result.Unread[0] != want {
				t.Errorf("Unread = %q, want [%q]", result.Unread, want)
			}
		})
	}
}

func TestAttachedSecretKeyPasses(t *testing.T) {
	_, secret := testKeys(t)
	data := crlf("From: bob@example.org\nContent-Type: application/pgp-keys\n\n" + string(armored(t, openpgp.PrivateKeyType, secret)))
	result := extract(t, data)
	// The keyring decides what to do with a secret key, so Extract passes it on.
	if len(result.Keys) != 1 {
		t.Fatalf("Keys = %d, want 1", len(result.Keys))
	}
}

func TestAttachedKeyErrors(t *testing.T) {
	public, _ := testKeys(t)
	key := string(armored(t, openpgp.PublicKeyType, public))
	tests := []struct {
		name    string
		message string
		want    string
	}{
		{"not a key", "From: bob@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pgp-keys; name=key.asc\n\nnot a key\n--b--\n",
			`part 1 (application/pgp-keys, "key.asc") is not an OpenPGP key`},
		{"bad base64", "From: bob@example.org\nContent-Type: application/pgp-keys\nContent-Transfer-Encoding: base64\n\n%%%%\n",
			"failed to decode the message body (application/pgp-keys)"},
		{"no close delimiter", "From: bob@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n",
			"failed to read the message body: multipart body has no close delimiter"},
		{"no single From", "From: a@example.org, b@example.org\nContent-Type: application/pgp-keys\n\n" + key,
			"the From header field has 2 addresses"},
		{"bad header", "From bob\nnot a header\n\nbody\n",
			"failed to read the message header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(crlf(tt.message))
			if err == nil {
				t.Fatal("Extract returned no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		_, err := Extract(make([]byte, MaxMessageSize+1))
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("error = %v, want ErrTooLarge", err)
		}
	})
	t.Run("depth", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("From: bob@example.org\n")
		levels := maxDepth + 2
		for i := range levels {
			b.WriteString("Content-Type: multipart/mixed; boundary=b" + strings.Repeat("x", i) + "\n\n--b" + strings.Repeat("x", i) + "\n")
		}
		b.WriteString("Content-Type: text/plain\n\nhi\n")
		for i := levels - 1; i >= 0; i-- {
			b.WriteString("--b" + strings.Repeat("x", i) + "--\n")
		}
		_, err := Extract(crlf(b.String()))
		if err == nil || !strings.Contains(err.Error(), "nest deeper") {
			t.Errorf("error = %v, want one about nesting", err)
		}
	})
}

func TestMboxFromLine(t *testing.T) {
	public, _ := testKeys(t)
	data := append([]byte("From bob@example.org Mon Jan  1 00:00:00 2024\r\n"), message("Autocrypt: addr=bob@example.org; keydata="+folded(public))...)
	if result := extract(t, data); len(result.Keys) != 1 {
		t.Errorf("Keys = %d, want 1", len(result.Keys))
	}
}

func TestAutocryptAndAttached(t *testing.T) {
	public, _ := testKeys(t)
	data := crlf("From: bob@example.org\nAutocrypt: addr=bob@example.org; keydata=" + base64.StdEncoding.EncodeToString(public) +
		"\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pgp-keys\n\n" + string(armored(t, openpgp.PublicKeyType, public)) + "\n--b--\n")
	result := extract(t, data)
	if len(result.Keys) != 2 {
		t.Fatalf("Keys = %d, want 2", len(result.Keys))
	}
	if result.Keys[0].Kind != KindAutocrypt || result.Keys[1].Kind != KindAttached {
		t.Errorf("Kinds = %s, %s; want autocrypt, then attached", result.Keys[0].Kind, result.Keys[1].Kind)
	}
}

// testSignedData is the start of a DER ContentInfo, which is all that
// Extract checks of a certs-only part. The keyring parses the rest.
var testSignedData = []byte{0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}

// certsOnlyMessage returns a message from bob@example.org whose second
// part has the header fields and the base64 of body.
func certsOnlyMessage(fields string, body []byte) []byte {
	return crlf("From: bob@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nMy certificate is attached.\n" +
		"--b\n" + fields + "\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString(body) + "\n--b--\n")
}

func TestCertsOnlyPart(t *testing.T) {
	tests := []struct {
		name, fields, location string
	}{
		{"pkcs7-mime", `Content-Type: application/pkcs7-mime; smime-type=certs-only; name="smime.p7c"`,
			`part 2 (application/pkcs7-mime, "smime.p7c")`},
		{"x-pkcs7-mime", "Content-Type: application/x-pkcs7-mime; smime-type=certs-only",
			"part 2 (application/x-pkcs7-mime)"},
		{"smime-type in capitals", "Content-Type: application/pkcs7-mime; smime-type=Certs-Only",
			"part 2 (application/pkcs7-mime)"},
		{"no smime-type, .p7c file name", "Content-Type: application/pkcs7-mime\nContent-Disposition: attachment; filename=\"bob.P7C\"",
			`part 2 (application/pkcs7-mime, "bob.P7C")`},
		{"octet-stream named .p7c", `Content-Type: application/octet-stream; name="smime.p7c"`,
			`part 2 (application/octet-stream, "smime.p7c")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result := extract(t, certsOnlyMessage(tt.fields, testSignedData))
			if len(result.CertsOnly) != 1 {
				t.Fatalf("CertsOnly = %d parts, want 1", len(result.CertsOnly))
			}
			part := result.CertsOnly[0]
			if part.Location != tt.location {
				t.Errorf("Location = %q, want %q", part.Location, tt.location)
			}
			if !bytes.Equal(part.Data, testSignedData) {
				t.Errorf("Data = %x, want the decoded body %x", part.Data, testSignedData)
			}
			if len(result.Keys) != 0 || len(result.Unread) != 0 {
				t.Errorf("Keys = %d, Unread = %q, want neither", len(result.Keys), result.Unread)
			}
		})
	}
}

func TestCertsOnlyPartNotTaken(t *testing.T) {
	tests := []struct {
		name, fields string
		unread       []string
	}{
		{"enveloped-data named .p7c", `Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7c"`,
			[]string{`part 2 (application/pkcs7-mime, "smime.p7c")`}},
		{"pkcs7-mime without smime-type", `Content-Type: application/pkcs7-mime; name="smime.p7m"`,
			[]string{`part 2 (application/pkcs7-mime, "smime.p7m")`}},
		{"signature", `Content-Type: application/pkcs7-signature; name="smime.p7s"`, nil},
		{"other attachment", `Content-Type: application/octet-stream; name="report.pdf"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result := extract(t, certsOnlyMessage(tt.fields, testSignedData))
			if len(result.CertsOnly) != 0 {
				t.Errorf("CertsOnly = %d parts, want none", len(result.CertsOnly))
			}
			if !slices.Equal(result.Unread, tt.unread) {
				t.Errorf("Unread = %q, want %q", result.Unread, tt.unread)
			}
		})
	}
}

func TestCertsOnlyPartWithoutFrom(t *testing.T) {
	data := crlf("Subject: no sender\nContent-Type: application/pkcs7-mime; smime-type=certs-only\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString(testSignedData) + "\n")
	result := extract(t, data)
	if len(result.CertsOnly) != 1 {
		t.Fatalf("CertsOnly = %d parts, want 1: certificates name their own addresses", len(result.CertsOnly))
	}
	if want := "the message body (application/pkcs7-mime)"; result.CertsOnly[0].Location != want {
		t.Errorf("Location = %q, want %q", result.CertsOnly[0].Location, want)
	}
}

func TestCertsOnlyPartErrors(t *testing.T) {
	const fields = `Content-Type: application/pkcs7-mime; smime-type=certs-only; name="smime.p7c"`
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", certsOnlyMessage(fields, nil),
			`part 2 (application/pkcs7-mime, "smime.p7c") is not an S/MIME certs-only part: the part is empty`},
		{"text", certsOnlyMessage(fields, []byte("not a certificate")),
			`part 2 (application/pkcs7-mime, "smime.p7c") is not an S/MIME certs-only part: the part is neither DER nor PEM`},
		{"bad base64", bytes.Replace(certsOnlyMessage(fields, testSignedData), []byte("MAsGCS"), []byte("%%%%"), 1),
			`failed to decode part 2 (application/pkcs7-mime, "smime.p7c")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result, err := Extract(tt.data)
			if err == nil {
				t.Fatalf("Extract returned %d certs-only parts and no error", len(result.CertsOnly))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestCertsOnlyPartPEM(t *testing.T) {
	pemBody := []byte("-----BEGIN PKCS7-----\nMAsGCSqGSIb3DQEHAg==\n-----END PKCS7-----\n")
	result := extract(t, certsOnlyMessage(`Content-Type: application/pkcs7-mime; smime-type=certs-only`, pemBody))
	if len(result.CertsOnly) != 1 || !bytes.Equal(result.CertsOnly[0].Data, pemBody) {
		t.Errorf("CertsOnly = %+v, want the PEM body", result.CertsOnly)
	}
}

func TestUnreadNested(t *testing.T) {
	data := crlf("From: bob@example.org\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nhi\n" +
		"--b\nContent-Type: multipart/encrypted; boundary=e\n\n--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--e--\n" +
		"--b--\n")
	result := extract(t, data)
	if want := []string{"part 2 (multipart/encrypted)"}; !slices.Equal(result.Unread, want) {
		t.Errorf("Unread = %q, want %q", result.Unread, want)
	}
}
