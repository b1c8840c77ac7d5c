package ses_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

// signedHTMLMessage is a clear-signed message with an HTML part, which
// open and click tracking would change.
const signedHTMLMessage = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: Signed statement\r\n" +
	"Message-ID: <3@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/signed; boundary=\"s1\"; micalg=pgp-sha256;\r\n" +
	" protocol=\"application/pgp-signature\"\r\n" +
	"\r\n" +
	"--s1\r\n" +
	"Content-Type: multipart/alternative; boundary=\"a1\"\r\n" +
	"\r\n" +
	"--a1\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"See https://example.com/statement\r\n" +
	"--a1\r\n" +
	"Content-Type: text/html; charset=us-ascii\r\n" +
	"\r\n" +
	"<p><a href=\"https://example.com/statement\">statement</a></p>\r\n" +
	"--a1--\r\n" +
	"--s1\r\n" +
	"Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n" +
	"\r\n" +
	"-----BEGIN PGP SIGNATURE-----\r\n" +
	"\r\n" +
	"iQEzBAEBCAAdFiEE\r\n" +
	"-----END PGP SIGNATURE-----\r\n" +
	"--s1--\r\n"

// withContentType returns testMessage with its Content-Type field and body
// replaced.
func withContentType(contentType, body string) string {
	head, _, _ := strings.Cut(testMessage, "Content-Type:")
	return head + "Content-Type: " + contentType + "\r\n\r\n" + body
}

func TestSendTrackingOverride(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		off  bool
	}{
		{name: "clear-signed", raw: signedHTMLMessage, off: true},
		{name: "signed inside mixed", off: true, raw: withContentType(`multipart/mixed; boundary="m1"`,
			"--m1\r\nContent-Type: multipart/signed; boundary=\"s2\"; protocol=\"application/pkcs7-signature\"\r\n\r\n"+
				"--s2\r\nContent-Type: text/plain\r\n\r\nHi\r\n--s2--\r\n--m1--\r\n")},
		{name: "PGP encrypted", off: true, raw: withContentType(`multipart/encrypted; boundary="e1"; protocol="application/pgp-encrypted"`,
			"--e1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--e1--\r\n")},
		{name: "S/MIME opaque", off: true, raw: withContentType(`application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m`, "MIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n")},
		{name: "malformed content type", off: true, raw: withContentType(`multipart/mixed; boundary=`, "--\r\n")},
		{name: "plain text", off: false, raw: testMessage},
		{name: "plain HTML alternative", off: false, raw: withContentType(`multipart/alternative; boundary="a2"`,
			"--a2\r\nContent-Type: text/plain\r\n\r\nHi\r\n--a2\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>\r\n--a2--\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSES(t)
			tr := newTestTransport(t, fake.server.URL, ses.Options{ConfigurationSet: "tracked"})
			env := transport.Envelope{Recipients: []string{"bob@example.com"}}

			if _, err := tr.Send(context.Background(), env, strings.NewReader(tt.raw)); err != nil {
				t.Fatalf("Send: %v", err)
			}

			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			var body struct {
				ConfigurationOverrides *struct {
					Tracking struct{ OpenTrackingEnabled, ClickTrackingEnabled string }
				}
				Content struct{ Raw struct{ Data string } }
			}
			if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
				t.Fatalf("failed to parse the request body: %v\n%s", err, reqs[0].Body)
			}
			raw, err := base64.StdEncoding.DecodeString(body.Content.Raw.Data)
			if err != nil || !bytes.Equal(raw, []byte(tt.raw)) {
				t.Errorf("raw data differs from the input (%v):\ngot  %q\nwant %q", err, raw, tt.raw)
			}
			if !tt.off {
				if body.ConfigurationOverrides != nil {
					t.Errorf("request has ConfigurationOverrides for an unprotected message: %s", reqs[0].Body)
				}
				return
			}
			if body.ConfigurationOverrides == nil {
				t.Fatalf("request has no ConfigurationOverrides: %s", reqs[0].Body)
			}
			tracking := body.ConfigurationOverrides.Tracking
			if tracking.OpenTrackingEnabled != "DISABLED" || tracking.ClickTrackingEnabled != "DISABLED" {
				t.Errorf("ConfigurationOverrides.Tracking = %+v, want both DISABLED", tracking)
			}
			const want = `"ConfigurationOverrides":{"Tracking":{"ClickTrackingEnabled":"DISABLED","OpenTrackingEnabled":"DISABLED"}}`
			if !bytes.Contains(reqs[0].Body, []byte(want)) {
				t.Errorf("request body lacks %s:\n%s", want, reqs[0].Body)
			}
		})
	}
}
