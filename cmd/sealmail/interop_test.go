package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/keyring"
)

const (
	interopText = "Grüße, Bob.\nFrom here on the figures are attached.\n"
	interopHTML = "<p>Grüße, <b>Bob</b>.</p>\n"
)

// interopAttachment has bytes of every value, so any re-encoding shows.
var interopAttachment = func() []byte {
	b := make([]byte, 3000)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}()

// TestComposeOpensInGPG composes every mode, for both key types GnuPG users
// have, with a text-only, an HTML and an attachment message, and checks that
// gpg verifies or decrypts each and that the parts equal the input.
func TestComposeOpensInGPG(t *testing.T) {
	keyTypes := []struct {
		name string
		opts keyring.GenerateOptions
	}{
		{"ed25519", keyring.GenerateOptions{}},
		{"rsa3072", keyring.GenerateOptions{RSABits: 3072}},
	}
	bodies := []struct {
		name string
		args []string
	}{
		{"text", []string{"--text", "body.txt"}},
		{"html", []string{"--text", "body.txt", "--html", "body.html"}},
		{"attachment", []string{"--text", "body.txt", "--attach", "data.bin"}},
	}
	modes := []string{"--sign", "--encrypt", "--sign+encrypt"}

	for _, kt := range keyTypes {
		t.Run(kt.name, func(t *testing.T) {
			home, files := t.TempDir(), t.TempDir()
			alice := generatePerson(t, "alice@example.org", kt.opts)
			bob := generatePerson(t, "bob@example.org", kt.opts)
			for name, data := range map[string][]byte{
				"alice.sec": alice.secret, "bob.asc": bob.public,
				"body.txt": []byte(interopText), "body.html": []byte(interopHTML), "data.bin": interopAttachment,
			} {
				if err := os.WriteFile(filepath.Join(files, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if status, _, stderr := runCLI(t, home, "", "keyring", "import", filepath.Join(files, "alice.sec"), filepath.Join(files, "bob.asc")); status != 0 {
				t.Fatalf("keyring import: %s", stderr)
			}
			g := gpgtest.New(t)
			g.Import(t, bob.secret)
			g.Import(t, alice.public)

			for _, mode := range modes {
				for _, body := range bodies {
					t.Run(strings.TrimPrefix(mode, "--")+"/"+body.name, func(t *testing.T) {
						args := []string{"compose", "--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Interop"}
						if mode != "--sign+encrypt" {
							args = append(args, mode)
						}
						for i := 0; i < len(body.args); i += 2 {
							args = append(args, body.args[i], filepath.Join(files, body.args[i+1]))
						}
						status, raw, stderr := runCLI(t, home, "", args...)
						if status != 0 {
							t.Fatalf("compose: exit status %d: %s", status, stderr)
						}
						var entity []byte
						if mode == "--sign" {
							entity = gpgVerifySigned(t, g, []byte(raw))
						} else {
							entity = gpgDecrypt(t, g, []byte(raw), mode == "--sign+encrypt")
						}
						checkInteropParts(t, entity, body.name)
					})
				}
			}
		})
	}
}

func generatePerson(t *testing.T, address string, opts keyring.GenerateOptions) *person {
	t.Helper()
	e, err := keyring.Generate("Test "+address, address, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := &person{address: address, entity: e}
	var public, secret bytes.Buffer
	if err := writeArmored(&public, openpgp.PublicKeyType, e.Serialize); err != nil {
		t.Fatal(err)
	}
	if err := writeArmored(&secret, openpgp.PrivateKeyType, secretSerializer(e)); err != nil {
		t.Fatal(err)
	}
	p.public, p.secret = public.Bytes(), secret.Bytes()
	return p
}

// gpgVerifySigned splits a multipart/signed message at its boundary, has
// gpg verify the signature over the first part's exact bytes, and returns
// that part.
func gpgVerifySigned(t *testing.T, g *gpgtest.GPG, raw []byte) []byte {
	t.Helper()
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	unfolded := strings.ReplaceAll(string(header), "\r\n ", " ")
	unfolded = strings.ReplaceAll(unfolded, "\r\n\t", " ")
	var params map[string]string
	for _, line := range strings.Split(unfolded, "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Type") {
			var mediaType string
			var err error
			mediaType, params, err = mime.ParseMediaType(strings.TrimSpace(value))
			if err != nil || mediaType != "multipart/signed" {
				t.Fatalf("Content-Type %q is not multipart/signed (%v)", value, err)
			}
		}
	}
	delimiter := []byte("\r\n--" + params["boundary"])
	parts := bytes.Split(raw, delimiter)
	if len(parts) != 4 {
		t.Fatalf("multipart/signed has %d pieces at its boundary, want 4", len(parts))
	}
	signed := bytes.TrimPrefix(parts[1], []byte("\r\n"))
	signature := parts[2][bytes.Index(parts[2], []byte("-----BEGIN PGP SIGNATURE-----")):]

	dir := t.TempDir()
	signedFile, sigFile := filepath.Join(dir, "part"), filepath.Join(dir, "part.asc")
	if err := os.WriteFile(signedFile, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigFile, signature, 0o600); err != nil {
		t.Fatal(err)
	}
	status, _, stderr, err := g.Status(t, nil, "--verify", sigFile, signedFile)
	if err != nil || !gpgtest.HasStatus(status, "GOODSIG") {
		t.Fatalf("gpg --verify did not report a good signature (%v):\n%s", err, stderr)
	}
	// VALIDSIG fields: keyword, fingerprint, date, timestamp, expiry,
	// version, reserved, public key algorithm, hash algorithm, ...
	validsig := strings.Fields(gpgtest.StatusLine(status, "VALIDSIG"))
	if len(validsig) < 9 {
		t.Fatalf("gpg printed no VALIDSIG line:\n%s", strings.Join(status, "\n"))
	}
	hashAlgo := map[string]string{"8": "sha256", "9": "sha384", "10": "sha512"}[validsig[8]]
	if !strings.Contains(params["micalg"], hashAlgo) || hashAlgo == "" {
		t.Errorf("micalg %q does not name the hash of the signature gpg verified (%s)", params["micalg"], hashAlgo)
	}
	return signed
}

// gpgDecrypt has gpg decrypt the PGP MESSAGE in raw and returns the entity;
// when signed, gpg must also report a good signature.
func gpgDecrypt(t *testing.T, g *gpgtest.GPG, raw []byte, signed bool) []byte {
	t.Helper()
	start := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	if start < 0 {
		t.Fatal("no PGP MESSAGE in the composed message")
	}
	status, entity, stderr, err := g.Status(t, raw[start:], "--decrypt")
	if err != nil || !gpgtest.HasStatus(status, "DECRYPTION_OKAY") {
		t.Fatalf("gpg --decrypt failed (%v):\n%s", err, stderr)
	}
	if signed != gpgtest.HasStatus(status, "GOODSIG") {
		t.Errorf("gpg reports GOODSIG = %v, want %v:\n%s", !signed, signed, strings.Join(status, "\n"))
	}
	if cipher := gpgtest.StatusLine(status, "DECRYPTION_INFO"); !strings.HasSuffix(cipher, " 9") && !strings.Contains(cipher, " 9 ") {
		t.Errorf("gpg reports %q, want cipher algorithm 9 (AES-256)", cipher)
	}
	return entity
}

// mimePart is a leaf part of a MIME entity with its decoded body.
type mimePart struct {
	mediaType string
	body      []byte
}

// leafParts returns the leaf parts of the MIME entity, depth first.
func leafParts(t *testing.T, entity []byte) []mimePart {
	t.Helper()
	e, err := message.Read(bytes.NewReader(entity))
	if err != nil {
		t.Fatalf("failed to parse the protected entity: %v", err)
	}
	var parts []mimePart
	var walk func(e *message.Entity)
	walk = func(e *message.Entity) {
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("failed to read a part: %v", err)
				}
				walk(p)
			}
		}
		mediaType, _, _ := e.Header.ContentType()
		body, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatalf("failed to decode a %s part: %v", mediaType, err)
		}
		parts = append(parts, mimePart{mediaType: mediaType, body: body})
	}
	walk(e)
	return parts
}

// checkInteropParts checks that each part of entity decodes to the input.
func checkInteropParts(t *testing.T, entity []byte, body string) {
	t.Helper()
	got := map[string][]byte{}
	for _, p := range leafParts(t, entity) {
		got[p.mediaType] = p.body
	}

	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	if string(got["text/plain"]) != crlf(interopText) {
		t.Errorf("text = %q, want %q", got["text/plain"], crlf(interopText))
	}
	if body == "html" && string(got["text/html"]) != crlf(interopHTML) {
		t.Errorf("html = %q, want %q", got["text/html"], crlf(interopHTML))
	}
	if body == "attachment" && !bytes.Equal(got["application/octet-stream"], interopAttachment) {
		t.Errorf("attachment differs from the input (%d bytes, want %d); parts: %v", len(got["application/octet-stream"]), len(interopAttachment), fmt.Sprint(len(got)))
	}
}
