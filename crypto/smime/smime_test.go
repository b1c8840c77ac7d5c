package smime

import (
	"bytes"
	"crypto/x509"
	"io"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/internal/rawmime"
)

// testEntity is a quoted-printable text part as compose writes one.
const testEntity = "Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	"\r\n" +
	"the statement is attached. Gr=C3=BC=C3=9Fe,\r\n" +
	"Alice\r\n"

func writeBytes(entity string) BodyFunc {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, entity)
		return err
	}
}

func sign(tb testing.TB, signer *Signer, entity string, opts *Options) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := Sign(&out, signer, writeBytes(entity), opts); err != nil {
		tb.Fatalf("Sign failed: %v", err)
	}
	return out.Bytes()
}

// checkWire checks the rules for every line of a message: CRLF line
// endings only, no lone CR or LF, at most 998 octets a line.
func checkWire(t *testing.T, message []byte) {
	t.Helper()
	if !bytes.HasSuffix(message, []byte("\r\n")) {
		t.Errorf("message does not end in CRLF")
	}
	for i, line := range bytes.Split(message, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d contains a lone CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Errorf("line %d has %d octets, more than 998", i+1, len(line))
		}
	}
}

// contentType parses the Content-Type of the message's top-level header.
func contentType(t *testing.T, message []byte) (string, map[string]string) {
	t.Helper()
	entity, err := rawmime.ParseEntity(message)
	if err != nil {
		t.Fatalf("failed to parse the message: %v", err)
	}
	value := entity.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(value)
	if err != nil {
		t.Fatalf("failed to parse Content-Type %q: %v", value, err)
	}
	return mediaType, params
}

// writeMessage makes a signed entity a message, as openssl reads one, and
// writes it to dir.
func writeMessage(t *testing.T, dir string, entity []byte) string {
	t.Helper()
	path := filepath.Join(dir, "msg.eml")
	message := append([]byte("MIME-Version: 1.0\r\n"), entity...)
	if err := os.WriteFile(path, message, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openssl runs openssl with args and returns its standard output.
func openssl(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("openssl", args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		t.Logf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), err
}

// signedDataDER returns the SignedData of a signed entity: the second part
// of multipart/signed or the body of application/pkcs7-mime.
func signedDataDER(t *testing.T, message []byte) []byte {
	t.Helper()
	entity, err := rawmime.ParseEntity(message)
	if err != nil {
		t.Fatal(err)
	}
	if entity.MediaType == "multipart/signed" {
		parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
		if err != nil || len(parts) != 2 {
			t.Fatalf("failed to split multipart/signed into two parts: %v", err)
		}
		if entity, err = rawmime.ParseEntity(parts[1]); err != nil {
			t.Fatal(err)
		}
	}
	der, err := entity.DecodedBody()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignOpenSSL(t *testing.T) {
	peers.Require(t, "openssl")
	pki := newTestPKI(t)
	for _, kind := range signerKinds {
		signer := pki.issue(t, kind, "alice@example.org")
		for _, mode := range []struct {
			name string
			opts Options
		}{
			{"detached", Options{}},
			{"opaque", Options{Opaque: true}},
			{"detached-legacy", Options{LegacyTypes: true}},
			{"opaque-legacy", Options{Opaque: true, LegacyTypes: true}},
		} {
			t.Run(string(kind)+"/"+mode.name, func(t *testing.T) {
				message := sign(t, signer, testEntity, &mode.opts)
				checkWire(t, message)
				checkTypes(t, message, mode.opts)

				dir := t.TempDir()
				path := writeMessage(t, dir, message)
				out := filepath.Join(dir, "out")
				if _, err := openssl(t, "cms", "-verify", "-CAfile", pki.rootFile, "-in", path, "-out", out); err != nil {
					t.Fatalf("openssl cms -verify failed: %v", err)
				}
				verified, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if string(verified) != testEntity {
					t.Errorf("openssl output differs from the entity:\n%q\nwant\n%q", verified, testEntity)
				}

				printed, err := openssl(t, "cms", "-cmsout", "-print", "-in", path)
				if err != nil {
					t.Fatalf("openssl cms -cmsout -print failed: %v", err)
				}
				checkPrinted(t, string(printed), message, pki)

				opened, err := Open(bytes.NewReader(message), nil, nil, pki.roots, nil)
				if err != nil {
					t.Fatalf("Open failed: %v", err)
				}
				if opened.SignatureErr != nil {
					t.Errorf("Open reports a bad signature: %v", opened.SignatureErr)
				}
				if !opened.Signed || !opened.SignerCertificate.Equal(signer.Certificate) {
					t.Errorf("Open reports Signed %v by %v, want the signer", opened.Signed, opened.SignerCertificate)
				}
				if string(opened.Entity) != testEntity {
					t.Errorf("Open returned entity %q, want %q", opened.Entity, testEntity)
				}
			})
		}
	}
}

// checkTypes checks the media types of a signed message: protocol equal to
// the signature part's type byte for byte, smime-type and name on
// application/pkcs7-mime.
func checkTypes(t *testing.T, message []byte, opts Options) {
	t.Helper()
	prefix := "application/pkcs7-"
	if opts.LegacyTypes {
		prefix = "application/x-pkcs7-"
	}
	mediaType, params := contentType(t, message)
	if opts.Opaque {
		if mediaType != prefix+"mime" {
			t.Errorf("Content-Type is %q, want %q", mediaType, prefix+"mime")
		}
		if params["smime-type"] != "signed-data" || params["name"] != "smime.p7m" {
			t.Errorf("Content-Type parameters are %v, want smime-type=signed-data and name=smime.p7m", params)
		}
		return
	}

	if mediaType != "multipart/signed" {
		t.Fatalf("Content-Type is %q, want multipart/signed", mediaType)
	}
	if params["protocol"] != prefix+"signature" {
		t.Errorf("protocol is %q, want %q", params["protocol"], prefix+"signature")
	}
	if !bytes.Contains(message, []byte("\r\nContent-Type: "+params["protocol"]+"; name=\"smime.p7s\"\r\n")) {
		t.Errorf("signature part type does not equal protocol %q byte for byte", params["protocol"])
	}
	if !bytes.Contains(message, []byte("\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n")) {
		t.Errorf("signature part has no Content-Disposition with filename smime.p7s")
	}
}

// checkPrinted checks openssl's view of the SignedData: the digest
// algorithm matches micalg, the signed attributes are there, the chain holds
// the intermediate and not the root, and a detached signature has no
// content.
func checkPrinted(t *testing.T, printed string, message []byte, pki *testPKI) {
	t.Helper()
	for _, want := range []string{"signingTime", "S/MIME Capabilities", "messageDigest", "contentType"} {
		if !strings.Contains(printed, want) {
			t.Errorf("openssl -print shows no %s", want)
		}
	}
	if !strings.Contains(printed, "subject: O=sealmail tests, CN=sealmail test intermediate") {
		t.Errorf("SignedData does not contain the intermediate certificate")
	}
	if strings.Contains(printed, "subject: O=sealmail tests, CN=sealmail test root") {
		t.Errorf("SignedData contains the root certificate")
	}

	mediaType, params := contentType(t, message)
	if mediaType != "multipart/signed" {
		return
	}
	digestNames := map[string]string{"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}
	digest := digestNames[params["micalg"]]
	if digest == "" || !strings.Contains(printed, "digestAlgorithm: \n          algorithm: "+digest) {
		t.Errorf("micalg %q does not match the SignerInfo digest algorithm:\n%s", params["micalg"], printed)
	}
	if !strings.Contains(printed, "eContent: <ABSENT>") {
		t.Errorf("detached SignedData contains content")
	}
}

// TestSignMicalgFollowsKey covers the hash of every EC curve size.
func TestSignMicalgFollowsKey(t *testing.T) {
	pki := newTestPKI(t)
	for kind, want := range map[keyKind]string{kindRSA4096: "sha-256", kindP256: "sha-256", kindP384: "sha-384", kindP521: "sha-512"} {
		message := sign(t, pki.issue(t, kind, "alice@example.org"), testEntity, nil)
		if _, params := contentType(t, message); params["micalg"] != want {
			t.Errorf("%s: micalg is %q, want %q", kind, params["micalg"], want)
		}
		opened, err := Open(bytes.NewReader(message), nil, nil, pki.roots, nil)
		if err != nil || opened.SignatureErr != nil {
			t.Errorf("%s: Open failed: %v, %v", kind, err, opened.SignatureErr)
		}
	}
}

var _ = x509.Certificate{}
