package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/crypto/pgpmime"
	"github.com/sealmail/sealmail/internal/peers"
)

// people holds a key for each address of the test messages, made once.
type people struct {
	keys testKeys
}

func newPeople(t testing.TB, names ...string) *people {
	p := &people{keys: testKeys{}}
	for _, n := range names {
		address := n + "@example.org"
		p.keys[address] = newKey(t, n, address)
	}
	return p
}

// encryptionKeyID returns the key ID of the subkey e is encrypted to.
func encryptionKeyID(t testing.TB, e *openpgp.Entity) uint64 {
	t.Helper()
	key, ok := e.EncryptionKey(time.Now(), nil)
	if !ok {
		t.Fatalf("key %X has no encryption subkey", e.PrimaryKey.Fingerprint)
	}
	return key.PublicKey.KeyId
}

func fullMessage() *Message {
	return &Message{
		From:    addr("Alice <alice@example.org>"),
		To:      addrs("Bob <bob@example.org>"),
		Cc:      addrs("carol@example.org"),
		Bcc:     addrs("dave@example.org", "erin@example.org"),
		Subject: "Quarterly report",
		Header:  []Field{{"X-Mailer", "sealmail test"}},
		Text:    []byte("Hello,\nFrom the team: the report is attached.\n"),
		HTML:    []byte("<p>Hello</p>\n"),
		Attachments: []Attachment{
			stringAttachment("report.csv", "a,b\n1,2\n"),
			stringAttachment("Übersicht.txt", "Grüße"),
		},
	}
}

func TestPlanEncryptedCopies(t *testing.T) {
	p := newPeople(t, "alice", "bob", "carol", "dave", "erin")
	c, err := New(context.Background(), fullMessage(), Options{Signer: p.keys["alice@example.org"], Keys: p.keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	copies := c.Copies()
	if len(copies) != 3 {
		t.Fatalf("got %d copies, want 3", len(copies))
	}
	want := []struct {
		bcc        string
		recipients []string
		keys       []string
	}{
		{"", []string{"bob@example.org", "carol@example.org"}, []string{"bob", "carol", "alice"}},
		{"dave@example.org", []string{"dave@example.org"}, []string{"dave", "alice"}},
		{"erin@example.org", []string{"erin@example.org"}, []string{"erin", "alice"}},
	}
	ids := map[string]bool{}
	for i, w := range want {
		cp := copies[i]
		if cp.Bcc != w.bcc {
			t.Errorf("copy %d Bcc = %q, want %q", i, cp.Bcc, w.bcc)
		}
		if !slices.Equal(cp.Envelope.Recipients, w.recipients) {
			t.Errorf("copy %d envelope recipients = %v, want %v", i, cp.Envelope.Recipients, w.recipients)
		}
		if cp.Envelope.From != "alice@example.org" {
			t.Errorf("copy %d envelope sender = %q", i, cp.Envelope.From)
		}
		if !strings.HasSuffix(cp.MessageID, "@example.org") || ids[cp.MessageID] {
			t.Errorf("copy %d Message-ID %q is not new or not at the sender's domain", i, cp.MessageID)
		}
		ids[cp.MessageID] = true

		var names []string
		for _, k := range c.copies[i].keys {
			for name := range k.Identities {
				names = append(names, strings.Fields(name)[0])
			}
		}
		if !slices.Equal(names, w.keys) {
			t.Errorf("copy %d is encrypted to %v, want %v", i, names, w.keys)
		}
	}
}

func TestPlanBccOnly(t *testing.T) {
	p := newPeople(t, "alice", "dave")
	m := fullMessage()
	m.To, m.Cc, m.Bcc = nil, nil, addrs("dave@example.org")

	c, err := New(context.Background(), m, Options{Signer: p.keys["alice@example.org"], Keys: p.keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	copies := c.Copies()
	if len(copies) != 1 || copies[0].Bcc != "dave@example.org" {
		t.Errorf("copies = %+v, want only dave's", copies)
	}
}

func TestPlanSignOnly(t *testing.T) {
	p := newPeople(t, "alice")
	c, err := New(context.Background(), fullMessage(), Options{Mode: SignOnly, Signer: p.keys["alice@example.org"]})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	copies := c.Copies()
	if len(copies) != 1 {
		t.Fatalf("got %d copies, want 1", len(copies))
	}
	want := []string{"bob@example.org", "carol@example.org", "dave@example.org", "erin@example.org"}
	if !slices.Equal(copies[0].Envelope.Recipients, want) {
		t.Errorf("envelope recipients = %v, want %v", copies[0].Envelope.Recipients, want)
	}
}

func TestPlanDedupesKeys(t *testing.T) {
	p := newPeople(t, "alice", "bob")
	p.keys["carol@example.org"] = p.keys["bob@example.org"] // one key, two addresses
	m := fullMessage()
	m.To = addrs("alice@example.org", "bob@example.org")
	m.Bcc = nil

	c, err := New(context.Background(), m, Options{Mode: EncryptOnly, Keys: p.keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if n := len(c.copies[0].keys); n != 2 {
		t.Errorf("copy is encrypted to %d keys, want 2 (alice and bob)", n)
	}
}

func TestNewRecipientErrorNamesAll(t *testing.T) {
	p := newPeople(t, "alice", "bob")
	m := fullMessage() // carol, dave and erin have no key

	_, err := New(context.Background(), m, Options{Signer: p.keys["alice@example.org"], Keys: p.keys})
	var re *RecipientError
	if !errors.As(err, &re) {
		t.Fatalf("New returned %v, want a *RecipientError", err)
	}
	if len(re.Problems) != 3 {
		t.Errorf("got %d problems, want 3: %v", len(re.Problems), re)
	}
	for _, a := range []string{"carol@example.org", "dave@example.org", "erin@example.org"} {
		if !strings.Contains(re.Error(), a) {
			t.Errorf("error %q does not name %s", re, a)
		}
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Address != "carol@example.org" {
		t.Errorf("errors.As finds no *KeyError for carol in %v", err)
	}
}

func TestNewSenderKeyMissing(t *testing.T) {
	p := newPeople(t, "bob")
	m := validMessage()

	_, err := New(context.Background(), m, Options{Mode: EncryptOnly, Keys: p.keys})
	if err == nil || !strings.Contains(err.Error(), "--no-encrypt-to-self") || !strings.Contains(err.Error(), "alice@example.org") {
		t.Errorf("New returned %v, want an error naming the sender and --no-encrypt-to-self", err)
	}
	want := `no usable key for the sender "alice@example.org": no key for alice@example.org; import or generate a key of the sender that can encrypt`
	if err != nil && !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}

	if _, err := New(context.Background(), m, Options{Mode: EncryptOnly, Keys: p.keys, NoEncryptToSelf: true}); err != nil {
		t.Errorf("New with NoEncryptToSelf: %v", err)
	}
}

func TestNewOptionErrors(t *testing.T) {
	p := newPeople(t, "alice")
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"sign without signer", Options{Mode: SignOnly}, "signing requires the sender's secret key"},
		{"sign and encrypt without signer", Options{Keys: p.keys}, "signing requires the sender's secret key"},
		{"encrypt without keys", Options{Mode: EncryptOnly}, "requires a key source"},
		{"unknown mode", Options{Mode: 7}, "invalid mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), validMessage(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New returned %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewInputErrorWrapped(t *testing.T) {
	m := validMessage()
	m.To = addrs("bob@example.org")
	m.To[0].Address = "bob@"

	_, err := New(context.Background(), m, Options{Mode: SignOnly, Signer: newKey(t, "alice", "alice@example.org")})
	wrapped := fmt.Errorf("failed to send: %w", err)
	var inputErr *InputError
	if !errors.As(wrapped, &inputErr) {
		t.Fatalf("errors.As finds no *InputError in %v", wrapped)
	}
	if inputErr.Field != "To" {
		t.Errorf("Field = %q, want To", inputErr.Field)
	}
	if inputErr.Error() != err.Error() {
		t.Errorf("Error() = %q, want %q", inputErr.Error(), err.Error())
	}
}

func TestNewKeyErrorIsNotInputError(t *testing.T) {
	p := newPeople(t, "alice")
	_, err := New(context.Background(), validMessage(), Options{Signer: p.keys["alice@example.org"], Keys: p.keys})

	var recipientErr *RecipientError
	if !errors.As(err, &recipientErr) {
		t.Fatalf("New returned %v, want a *RecipientError", err)
	}
	var inputErr *InputError
	if errors.As(err, &inputErr) {
		t.Errorf("a missing key is an *InputError: %v", err)
	}
}

func TestWriteCopyBlankSubject(t *testing.T) {
	p := newPeople(t, "alice")
	for _, subject := range []string{"", " ", " \t  ", "\u00a0"} {
		m := validMessage()
		m.Subject = subject

		c, err := New(context.Background(), m, Options{Mode: SignOnly, Signer: p.keys["alice@example.org"]})
		if err != nil {
			t.Fatalf("New with subject %q: %v", subject, err)
		}
		var b bytes.Buffer
		if err := c.WriteCopy(context.Background(), &b, 0); err != nil {
			t.Fatalf("WriteCopy: %v", err)
		}
		header := b.String()[:strings.Index(b.String(), "\r\n\r\n")+2]
		if strings.Contains(strings.ToLower(header), "\r\nsubject:") {
			t.Errorf("subject %q gives a Subject field:\n%s", subject, header)
		}
	}
}

func TestWriteCopyLongWordSubject(t *testing.T) {
	p := newPeople(t, "alice")
	m := validMessage()
	m.Subject = "Link: " + strings.Repeat("x", 2000)

	c, err := New(context.Background(), m, Options{Mode: SignOnly, Signer: p.keys["alice@example.org"]})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]

	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the copy: %v", err)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("failed to decode the subject: %v", err)
	}
	if got != m.Subject {
		t.Errorf("subject reads back as %q, want %q", got, m.Subject)
	}
}

func TestWriteCopyErrorNamesCopy(t *testing.T) {
	p := newPeople(t, "alice", "bob", "dave")
	failing := Attachment{
		Filename: "gone.txt",
		Open:     func() (io.ReadCloser, error) { return nil, errors.New("file was removed") },
	}
	tests := []struct {
		name string
		opts Options
		bcc  []*mail.Address
		want []string // one per copy
	}{
		{"signed", Options{Mode: SignOnly, Signer: p.keys["alice@example.org"]}, addrs("dave@example.org"),
			[]string{"failed to protect the message: "}},
		{"encrypted", Options{Signer: p.keys["alice@example.org"], Keys: p.keys}, addrs("dave@example.org"),
			[]string{"failed to protect the To/Cc copy: ", `failed to protect the Bcc copy for "dave@example.org": `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			m.Bcc = tt.bcc
			m.Attachments = []Attachment{failing}
			c, err := New(context.Background(), m, tt.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}

			for i, want := range tt.want {
				err := c.WriteCopy(context.Background(), io.Discard, i)
				if err == nil {
					t.Fatalf("WriteCopy(%d) returned no error", i)
				}
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("WriteCopy(%d) error %q does not start with %q", i, err, want)
				}
				if strings.Contains(err.Error(), "copy 0") || strings.Contains(err.Error(), "copy 1") {
					t.Errorf("WriteCopy(%d) error %q names the copy by its index", i, err)
				}
			}
		})
	}
}

// writeCopies writes every copy of c and checks the rules every raw message
// follows.
func writeCopies(t *testing.T, c *Composer) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range c.Copies() {
		var b bytes.Buffer
		if err := c.WriteCopy(context.Background(), &b, i); err != nil {
			t.Fatalf("WriteCopy(%d): %v", i, err)
		}
		raw := b.Bytes()
		checkLines(t, raw)

		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("copy %d: net/mail cannot read it: %v", i, err)
		}
		if _, ok := msg.Header["Bcc"]; ok {
			t.Errorf("copy %d has a Bcc field", i)
		}
		if bytes.Contains(bytes.ToLower(raw), []byte("\r\nbcc:")) {
			t.Errorf("copy %d contains a Bcc field", i)
		}
		for _, name := range []string{"From", "Date", "Message-Id", "Mime-Version", "Content-Type", "Subject"} {
			if n := len(msg.Header[name]); n != 1 {
				t.Errorf("copy %d has %d %s fields, want 1", i, n, name)
			}
		}
		if got, want := msg.Header.Get("Message-Id"), "<"+c.Copies()[i].MessageID+">"; got != want {
			t.Errorf("copy %d Message-ID = %q, want %q", i, got, want)
		}
		out = append(out, raw)
	}
	return out
}

func TestWriteCopyEncrypted(t *testing.T) {
	p := newPeople(t, "alice", "bob", "carol", "dave", "erin")
	c, err := New(context.Background(), fullMessage(), Options{Signer: p.keys["alice@example.org"], Keys: p.keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raws := writeCopies(t, c)

	var all openpgp.EntityList
	for _, k := range p.keys {
		all = append(all, k)
	}
	id := func(name string) uint64 { return encryptionKeyID(t, p.keys[name+"@example.org"]) }
	wantIDs := [][]uint64{
		{id("bob"), id("carol"), id("alice")},
		{id("dave"), id("alice")},
		{id("erin"), id("alice")},
	}
	for i, raw := range raws {
		opened, err := pgpmime.Open(bytes.NewReader(raw), all, nil)
		if err != nil {
			t.Fatalf("copy %d: pgpmime.Open: %v", i, err)
		}
		if !opened.Encrypted || !opened.Signed || opened.SignatureErr != nil {
			t.Errorf("copy %d: encrypted %v, signed %v, signature error %v", i, opened.Encrypted, opened.Signed, opened.SignatureErr)
		}
		got := slices.Sorted(slices.Values(opened.RecipientKeyIDs))
		if want := slices.Sorted(slices.Values(wantIDs[i])); !slices.Equal(got, want) {
			t.Errorf("copy %d is encrypted to key IDs %X, want %X", i, got, want)
		}
		checkBody(t, opened.Entity)
	}
	for _, bccID := range []uint64{id("dave"), id("erin")} {
		opened, err := pgpmime.Open(bytes.NewReader(raws[0]), all, nil)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(opened.RecipientKeyIDs, bccID) {
			t.Errorf("the To/Cc copy names the Bcc key ID %X", bccID)
		}
	}
}

func TestWriteCopySigned(t *testing.T) {
	p := newPeople(t, "alice")
	c, err := New(context.Background(), fullMessage(), Options{Mode: SignOnly, Signer: p.keys["alice@example.org"]})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]

	opened, err := pgpmime.Open(bytes.NewReader(raw), openpgp.EntityList{p.keys["alice@example.org"]}, nil)
	if err != nil {
		t.Fatalf("pgpmime.Open: %v", err)
	}
	if opened.Encrypted || !opened.Signed || opened.SignatureErr != nil {
		t.Errorf("encrypted %v, signed %v, signature error %v", opened.Encrypted, opened.Signed, opened.SignatureErr)
	}
	checkBody(t, opened.Entity)
	if !bytes.Contains(raw, []byte("=46rom the team")) {
		t.Errorf("the line that starts with From is not encoded")
	}
}

func TestWriteCopyHeader(t *testing.T) {
	p := newPeople(t, "alice")
	m := fullMessage()
	m.From = addr("Jörg <joerg@bücher.example>")
	m.To = addrs(`"Smith, Bob" <bob@münchen.example>`)
	m.Subject = "Grüße"
	m.Date = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

	c, err := New(context.Background(), m, Options{Mode: SignOnly, Signer: p.keys["alice@example.org"]})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]
	header := string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))])

	for _, want := range []string{
		"From: =?utf-8?q?J=C3=B6rg?= <joerg@xn--bcher-kva.example>\r\n",
		`To: "Smith, Bob" <bob@xn--mnchen-3ya.example>` + "\r\n",
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n",
		"Date: Tue, 04 Mar 2025 05:06:07 +0000\r\n",
		"MIME-Version: 1.0\r\n",
		"X-Mailer: sealmail test\r\n",
	} {
		if !strings.Contains(header, want) {
			t.Errorf("header lacks %q:\n%s", want, header)
		}
	}
	if !strings.Contains(header, "@xn--bcher-kva.example>\r\n") {
		t.Errorf("Message-ID is not at the punycode domain:\n%s", header)
	}
	if got := c.Copies()[0].Envelope; got.From != "joerg@xn--bcher-kva.example" || got.Recipients[0] != "bob@xn--mnchen-3ya.example" {
		t.Errorf("envelope = %+v, want punycode domains", got)
	}
}

// TestWriteCopyGPG decrypts each copy with GnuPG, which must verify the
// signature, and checks the decrypted entity holds the text and attachment.
func TestWriteCopyGPG(t *testing.T) {
	gpgPath := peers.Require(t, "gpg")
	p := newPeople(t, "alice", "bob", "dave")
	m := fullMessage()
	m.Cc, m.Bcc = nil, addrs("dave@example.org")
	// Without header protection the decrypted entity is the body itself;
	// TestHeaderProtectionGPG reads the protected form.
	c, err := New(context.Background(), m, Options{Signer: p.keys["alice@example.org"], Keys: p.keys, NoHeaderProtection: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raws := writeCopies(t, c)

	for i, reader := range []string{"bob", "dave"} {
		home := gpgHome(t, gpgPath)
		var keys bytes.Buffer
		if err := p.keys[reader+"@example.org"].SerializePrivate(&keys, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.keys["alice@example.org"].Serialize(&keys); err != nil {
			t.Fatal(err)
		}
		runGPG(t, gpgPath, home, keys.Bytes(), "--import")

		armored := raws[i][bytes.Index(raws[i], []byte("-----BEGIN PGP MESSAGE-----")):]
		armored = armored[:bytes.Index(armored, []byte("-----END PGP MESSAGE-----"))+len("-----END PGP MESSAGE-----")]
		stdout, stderr := runGPG(t, gpgPath, home, armored, "--status-fd", "2", "--decrypt")
		if !strings.Contains(stderr, "[GNUPG:] GOODSIG") {
			t.Errorf("copy %d: gpg reports no good signature:\n%s", i, stderr)
		}

		checkBody(t, stdout)
		parts := readParts(t, readEntity(t, stdout), "multipart/mixed")
		if len(parts) != 3 {
			t.Fatalf("copy %d: got %d parts, want 3", i, len(parts))
		}
		if got := readParts(t, readEntity(t, []byte(partRaw(t, stdout))), "multipart/alternative")[0].body; got != "Hello,\r\nFrom the team: the report is attached.\r\n" {
			t.Errorf("copy %d: text = %q", i, got)
		}
		if parts[1].filename != "report.csv" || parts[1].body != "a,b\n1,2\n" {
			t.Errorf("copy %d: attachment = %q %q", i, parts[1].filename, parts[1].body)
		}
		if parts[2].filename != "Übersicht.txt" || parts[2].body != "Grüße" {
			t.Errorf("copy %d: attachment = %q %q", i, parts[2].filename, parts[2].body)
		}
	}
}

// partRaw returns the raw first part of a multipart entity.
func partRaw(t *testing.T, entity []byte) string {
	t.Helper()
	e := readEntity(t, entity)
	_, params, _ := e.Header.ContentType()
	body := readAll(t, e.Body)
	delimiter := "--" + params["boundary"] + "\r\n"
	start := strings.Index(body, delimiter) + len(delimiter)
	end := strings.Index(body[start:], "\r\n--"+params["boundary"])
	return body[start : start+end]
}

func gpgHome(t *testing.T, gpgPath string) string {
	t.Helper()
	home, err := os.MkdirTemp("", "g")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gpgconf := filepath.Join(filepath.Dir(gpgPath), "gpgconf")
		cmd := exec.Command(gpgconf, "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
		os.RemoveAll(home)
	})
	return home
}

func runGPG(t *testing.T, gpgPath, home string, stdin []byte, args ...string) ([]byte, string) {
	t.Helper()
	cmd := exec.Command(gpgPath, append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--trust-model", "always"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), stderr.String()
}
