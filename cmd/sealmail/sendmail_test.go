package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/mailpit"
	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/internal/rawmime"
	"github.com/sealmail/sealmail/internal/tlstest"
	"github.com/sealmail/sealmail/transport/maildir"
)

// sendmailConfig writes config.toml into home for sendmail through the
// SMTP server at host:port with STARTTLS, the test user and the CA in
// caFile, and extra settings before the [smtp] table.
func sendmailConfig(t *testing.T, home, host string, port int, caFile, passwordFile, extra string) {
	t.Helper()
	config := fmt.Sprintf("via = \"smtp\"\n%s\n[smtp]\nhost = %q\nport = %d\ntls = \"starttls\"\nuser = %q\npassword_file = %q\nca_file = %q\n",
		extra, host, port, smtpTestUser, passwordFile, caFile)
	if err := os.WriteFile(filepath.Join(home, configFileName), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mailpitMessages returns the raw bytes of every message mailpit stored,
// its trace header fields first.
func mailpitMessages(t *testing.T, server *mailpit.Server) [][]byte {
	t.Helper()
	get := func(path string) []byte {
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(server.URL + path)
		if err != nil {
			t.Fatalf("GET %s from mailpit: %v", path, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s from mailpit: HTTP %d, %v", path, resp.StatusCode, err)
		}
		return b.Bytes()
	}
	var list struct {
		Messages []struct{ ID string }
	}
	if err := json.Unmarshal(get("/api/v1/messages"), &list); err != nil {
		t.Fatalf("failed to decode the mailpit message list: %v", err)
	}
	var raws [][]byte
	for _, m := range list.Messages {
		raws = append(raws, get("/api/v1/message/"+m.ID+"/raw"))
	}
	return raws
}

// sentCopies returns the bytes and records of the copies in the sent
// Maildir of home.
func sentCopies(t *testing.T, home string) (raws [][]byte, records []maildir.Record) {
	t.Helper()
	for _, c := range maildirCopies(t, filepath.Join(home, "sent")) {
		raws, records = append(raws, c.raw), append(records, c.record)
	}
	return raws, records
}

// spoolFiles returns the names of the files in the spool of home.
func spoolFiles(t *testing.T, home string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(home, "spool"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// decryptedText has gpg, with the keys of reader and sender, decrypt the
// PGP/MIME message raw, checks the signature, and returns the decoded
// content of the single part inside.
func decryptedText(t *testing.T, raw []byte, reader, sender *person) string {
	t.Helper()
	_, text := decryptedPayload(t, raw, reader, sender)
	return text
}

// decryptedPayload decrypts raw with gpg as decryptedText does, and returns
// the header fields that header protection put inside (nil without it) and
// the decoded content of the body's first leaf.
func decryptedPayload(t *testing.T, raw []byte, reader, sender *person) (textproto.Header, string) {
	t.Helper()
	armored := regexp.MustCompile(`(?s)-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----`).Find(raw)
	if armored == nil {
		t.Fatalf("the message holds no PGP MESSAGE:\n%s", raw)
	}
	g := gpgtest.New(t)
	g.Import(t, reader.secret)
	g.Import(t, sender.public)
	status, plain, stderr, err := g.Status(t, armored, "--decrypt")
	if err != nil {
		t.Fatalf("gpg --decrypt failed: %v\n%s", err, stderr)
	}
	if !gpgtest.HasStatus(status, "GOODSIG") || !gpgtest.HasStatus(status, "DECRYPTION_OKAY") {
		t.Errorf("gpg did not report a good signature and decryption:\n%s", strings.Join(status, "\n"))
	}
	entity, err := rawmime.ParseEntity(plain)
	if err != nil {
		t.Fatalf("the decrypted entity cannot be read: %v\n%s", err, plain)
	}
	var protected textproto.Header
	if entity.Params["hp"] != "" {
		// Header protection: the body is the first part of the multipart
		// that carries the header fields.
		protected = entity.Header
		parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
		if err != nil || len(parts) == 0 {
			t.Fatalf("the protected multipart cannot be split: %v\n%s", err, plain)
		}
		if entity, err = rawmime.ParseEntity(parts[0]); err != nil {
			t.Fatalf("the first part cannot be read: %v\n%s", err, plain)
		}
	}
	content, err := entity.DecodedBody()
	if err != nil {
		t.Fatal(err)
	}
	return protected, string(content)
}

// headerOf returns the header of the message raw, after mailpit's trace
// fields.
func headerOf(t *testing.T, raw []byte) mail.Header {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v", err)
	}
	return msg.Header
}

// requireGitSendEmail skips the test, or fails it in CI, when git
// send-email (Debian package git-email) is missing.
func requireGitSendEmail(t *testing.T) string {
	t.Helper()
	git := peers.Require(t, "git")
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "git-send-email")); err != nil {
		peers.Missing(t, "git send-email (Debian package git-email)")
	}
	return git
}

// gitPatches makes a repository with two commits on top of a first one
// and returns the two patches git format-patch writes for them.
func gitPatches(t *testing.T, git string, env []string) (dir string, patches []string) {
	t.Helper()
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "-q")
	write("hello\n")
	run("add", "notes.txt")
	run("commit", "-q", "-m", "Add notes")
	// 8-bit text, trailing white space and a line that starts with "From "
	// are what relays and signatures trip over.
	write("hello\nGrüße aus Köln  \nFrom here on, tabs:\t\n")
	run("commit", "-q", "-a", "-m", "Greet in German")
	write("hello\nGrüße aus Köln  \nFrom here on, tabs:\t\n\n.\nbye\n")
	run("commit", "-q", "-a", "-m", "Say bye")
	for _, name := range strings.Fields(run("format-patch", "-2", "-o", "patches")) {
		patches = append(patches, filepath.Join(dir, name))
	}
	if len(patches) != 2 {
		t.Fatalf("git format-patch wrote %d patches, want 2", len(patches))
	}
	return dir, patches
}

// patchBody returns the body of a patch file, as git send-email sends it,
// with CRLF line endings.
func patchBody(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(data), "\n\n")
	if !ok {
		t.Fatalf("patch %s has no body", path)
	}
	return strings.ReplaceAll(body, "\n", "\r\n")
}

// TestSendmailGitSendEmail has git send-email send a patch series through
// sealmail sendmail to mailpit. Each patch arrives encrypted, gpg opens it,
// the patch text is unchanged, and git's Message-ID, In-Reply-To and
// References survive.
func TestSendmailGitSendEmail(t *testing.T) {
	git := requireGitSendEmail(t)
	server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, _, alice, bob, _ := e2eSetup(t)
	sendmailConfig(t, home, server.SMTPHost, server.SMTPPort, caFile, passwordFile, "")

	bin, err := exec.LookPath("sealmail")
	if err != nil {
		t.Fatalf("sealmail is not on PATH: %v", err)
	}
	gitHome := t.TempDir()
	env := append(os.Environ(), "HOME="+gitHome, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.org")
	dir, patches := gitPatches(t, git, env)

	args := []string{"send-email", "--sendmail-cmd=" + bin + " --home " + home + " sendmail",
		"--from=Alice <alice@example.org>", "--to=bob@example.org", "--in-reply-to=<cover@example.org>",
		"--confirm=never", "--suppress-cc=all", "--no-validate", "--quiet"}
	cmd := exec.Command(git, append(args, patches...)...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git send-email: %v\n%s", err, out)
	}

	raws := mailpitMessages(t, server)
	if len(raws) != 2 {
		t.Fatalf("mailpit holds %d messages, want 2", len(raws))
	}
	// Header protection replaces the outer Subject with "[...]", so the
	// test identifies each patch by the protected Subject inside.
	bySubject := map[string][]byte{}
	for _, raw := range raws {
		if got := headerOf(t, raw).Get("Subject"); got != "[...]" {
			t.Errorf("the outer Subject is %q, want [...]", got)
		}
		protected, _ := decryptedPayload(t, raw, bob, alice)
		bySubject[protected.Get("Subject")] = raw
	}
	first, second := bySubject["[PATCH 1/2] Greet in German"], bySubject["[PATCH 2/2] Say bye"]
	if first == nil || second == nil {
		t.Fatalf("mailpit holds messages with subjects %q", slices.Collect(maps.Keys(bySubject)))
	}

	firstID := headerOf(t, first).Get("Message-Id")
	if !regexp.MustCompile(`^<\S+@\S+>$`).MatchString(firstID) {
		t.Errorf("the first patch has Message-ID %q", firstID)
	}
	if got := headerOf(t, first).Get("In-Reply-To"); got != "<cover@example.org>" {
		t.Errorf("the first patch has In-Reply-To %q, want <cover@example.org>", got)
	}
	h := headerOf(t, second)
	if got := h.Get("In-Reply-To"); got != firstID {
		t.Errorf("the second patch has In-Reply-To %q, want the first's Message-ID %q", got, firstID)
	}
	if got := h.Get("References"); !strings.Contains(got, "<cover@example.org>") || !strings.Contains(got, firstID) {
		t.Errorf("the second patch has References %q, want <cover@example.org> and %q", got, firstID)
	}

	for i, raw := range [][]byte{first, second} {
		if bytes.Contains(raw, []byte("Grüße")) || bytes.Contains(raw, []byte("Say bye\r\n\r\n")) {
			t.Errorf("patch %d went out in clear text:\n%s", i+1, raw)
		}
		if got, want := decryptedText(t, raw, bob, alice), patchBody(t, patches[i]); got != want {
			t.Errorf("patch %d decrypts to\n%q\nwant the patch text\n%q", i+1, got, want)
		}
	}

	sent, _ := sentCopies(t, home)
	if len(sent) != 2 {
		t.Errorf("the sent Maildir holds %d copies, want 2", len(sent))
	}
	if files := spoolFiles(t, home); len(files) != 0 {
		t.Errorf("the spool holds %q, want nothing", files)
	}
}

const sendmailMessage = "From: Alice <alice@example.org>\n" +
	"To: Bob <bob@example.org>\n" +
	"Bcc: carol@example.org\n" +
	"Subject: Figures\n" +
	"Message-ID: <figures-1@example.org>\n" +
	"\n" +
	"Hello Bob,\n\nthe figures are attached.\n"

// TestSendmailBccCopy sends a message with a Bcc field through sendmail
// -t: the Bcc recipient gets a copy of its own, and the shared copy has no
// Bcc field and no key ID of the Bcc recipient.
func TestSendmailBccCopy(t *testing.T) {
	server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, _, alice, bob, carol := e2eSetup(t)
	sendmailConfig(t, home, server.SMTPHost, server.SMTPPort, caFile, passwordFile, "")

	status, stdout, stderr := runCLI(t, home, sendmailMessage, "sendmail", "-t", "-oi")
	if status != 0 {
		t.Fatalf("sendmail -t: exit status %d: %s", status, stderr)
	}
	if stdout != "" {
		t.Errorf("sendmail printed %q on standard output, want nothing", stdout)
	}
	if n := server.Count(t); n != 2 {
		t.Fatalf("mailpit holds %d messages, want 2 (the To copy and the Bcc copy)", n)
	}

	raws, records := sentCopies(t, home)
	if len(raws) != 2 {
		t.Fatalf("the sent Maildir holds %d copies, want 2", len(raws))
	}
	g := gpgtest.New(t)
	var sharedSeen, bccSeen bool
	for i, raw := range raws {
		if bytes.Contains(bytes.ToLower(raw), []byte("\nbcc:")) || bytes.HasPrefix(bytes.ToLower(raw), []byte("bcc:")) {
			t.Errorf("copy for %q has a Bcc field", records[i].Envelope.Recipients)
		}
		if headerOf(t, raw).Get("Message-Id") != "<figures-1@example.org>" {
			t.Errorf("copy for %q lost the Message-ID", records[i].Envelope.Recipients)
		}
		ids := pkeskKeyIDs(t, g, raw)
		switch recipients := records[i].Envelope.Recipients; {
		case slices.Equal(recipients, []string{"bob@example.org"}):
			sharedSeen = true
			if slices.Contains(ids, carol.encryptionKeyID(t)) {
				t.Errorf("the shared copy names the key ID of the Bcc recipient: %q", ids)
			}
			if !slices.Contains(ids, bob.encryptionKeyID(t)) || !slices.Contains(ids, alice.encryptionKeyID(t)) {
				t.Errorf("the shared copy is encrypted to %q, want Bob's and Alice's key IDs", ids)
			}
		case slices.Equal(recipients, []string{"carol@example.org"}):
			bccSeen = true
			if slices.Contains(ids, bob.encryptionKeyID(t)) {
				t.Errorf("the Bcc copy names Bob's key ID: %q", ids)
			}
			if got := decryptedText(t, raw, carol, alice); got != "Hello Bob,\r\n\r\nthe figures are attached.\r\n" {
				t.Errorf("the Bcc copy decrypts to %q", got)
			}
		default:
			t.Errorf("a copy went to %q", recipients)
		}
	}
	if !sharedSeen || !bccSeen {
		t.Errorf("copies: shared %v, Bcc %v; want both", sharedSeen, bccSeen)
	}
}

// TestSendmailPolicy sends to a recipient without a key. With
// encrypt-if-possible that recipient gets the message signed, and gpg
// verifies it, while the recipients with keys get it encrypted as usual.
// With require-encryption sendmail exits with 67 and sends and queues
// nothing.
func TestSendmailPolicy(t *testing.T) {
	message := strings.Replace(sendmailMessage, "Bcc: carol@example.org\n", "Cc: dave@example.org\n", 1)

	encryptIfPossible := []struct {
		name    string
		message string
		// encrypted and signed are the envelope recipients of the
		// encrypted copies and of the signed copy.
		encrypted [][]string
		signed    []string
	}{
		{"keyless Cc", message, [][]string{{"bob@example.org"}}, []string{"dave@example.org"}},
		{"keyless Bcc", strings.Replace(sendmailMessage, "Bcc: carol@example.org\n", "Bcc: dave@example.org\n", 1),
			[][]string{{"bob@example.org"}}, []string{"dave@example.org"}},
		{"keyless Cc and Bcc with a key", strings.Replace(message, "Subject:", "Bcc: carol@example.org\nSubject:", 1),
			[][]string{{"bob@example.org"}, {"carol@example.org"}}, []string{"dave@example.org"}},
		{"no recipient with a key", strings.Replace(strings.Replace(message, "To: Bob <bob@example.org>\n", "To: erin@example.org\n", 1), "Cc:", "Bcc:", 1),
			nil, []string{"erin@example.org", "dave@example.org"}},
	}
	for _, tt := range encryptIfPossible {
		t.Run("encrypt-if-possible "+tt.name, func(t *testing.T) {
			server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
			home, _, alice, bob, carol := e2eSetup(t)
			sendmailConfig(t, home, server.SMTPHost, server.SMTPPort, caFile, passwordFile, `policy = "encrypt-if-possible"`)

			status, _, stderr := runCLI(t, home, tt.message, "sendmail", "-t")
			if status != 0 {
				t.Fatalf("sendmail: exit status %d: %s", status, stderr)
			}
			if !strings.Contains(stderr, "NOT encrypted") || !strings.Contains(stderr, "dave@example.org") {
				t.Errorf("stderr %q does not warn that dave@example.org has no key", stderr)
			}
			if len(tt.encrypted) > 0 && !strings.Contains(stderr, "the copies for the other recipients are encrypted") {
				t.Errorf("stderr %q does not say that the other copies are encrypted", stderr)
			}
			if n := server.Count(t); n != len(tt.encrypted)+1 {
				t.Fatalf("mailpit holds %d messages, want %d", n, len(tt.encrypted)+1)
			}

			raws, records := sentCopies(t, home)
			readers := map[string]*person{"bob@example.org": bob, "carol@example.org": carol}
			var encrypted [][]string
			var signed []string
			for i, raw := range raws {
				recipients := records[i].Envelope.Recipients
				if !bytes.Contains(raw, []byte("multipart/encrypted")) {
					signed = recipients
					if !bytes.Contains(raw, []byte("multipart/signed")) {
						t.Fatalf("the copy for %q is neither encrypted nor signed:\n%s", recipients, raw)
					}
					g := gpgtest.New(t)
					g.Import(t, alice.public)
					if content := gpgVerifySigned(t, g, raw); !bytes.Contains(content, []byte("the figures are attached.")) {
						t.Errorf("the signed part lacks the text:\n%s", content)
					}
					continue
				}
				encrypted = append(encrypted, recipients)
				if got := decryptedText(t, raw, readers[recipients[0]], alice); !strings.Contains(got, "the figures are attached.") {
					t.Errorf("the copy for %q decrypts to %q", recipients, got)
				}
			}
			slices.SortFunc(encrypted, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
			if !slices.EqualFunc(encrypted, tt.encrypted, slices.Equal) {
				t.Errorf("encrypted copies went to %q, want %q", encrypted, tt.encrypted)
			}
			if !slices.Equal(signed, tt.signed) {
				t.Errorf("the signed copy went to %q, want %q", signed, tt.signed)
			}

			// mailpit stored exactly the bytes kept as sent.
			for _, stored := range mailpitMessages(t, server) {
				found := false
				for _, raw := range raws {
					found = found || bytes.Equal(mailpit.StripTrace(t, stored, raw), raw)
				}
				if !found {
					t.Errorf("mailpit stored a message that is not among the sent copies:\n%s", stored)
				}
			}
		})
	}

	t.Run("require-encryption", func(t *testing.T) {
		server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
		home, _, _, _, _ := e2eSetup(t)
		sendmailConfig(t, home, server.SMTPHost, server.SMTPPort, caFile, passwordFile, "")

		status, _, stderr := runCLI(t, home, message, "sendmail", "-t")
		if status != exitNoUser {
			t.Errorf("exit status %d, want %d; stderr: %s", status, exitNoUser, stderr)
		}
		if !strings.Contains(stderr, "dave@example.org") {
			t.Errorf("stderr %q does not name dave@example.org", stderr)
		}
		if n := server.Count(t); n != 0 {
			t.Errorf("mailpit holds %d messages, want 0", n)
		}
		if files := spoolFiles(t, home); len(files) != 0 {
			t.Errorf("the spool holds %q, want nothing", files)
		}
	})
}

// TestSendmailTemporaryFailure sends to an SMTP port where nothing
// listens, and to a server that greets with 451: sendmail exits with 75 and
// leaves nothing in the queue, because the caller sends the message again.
func TestSendmailTemporaryFailure(t *testing.T) {
	tests := []struct {
		name  string
		serve func(l net.Listener)
	}{
		{"nothing listens", func(l net.Listener) { l.Close() }},
		{"451 greeting", func(l net.Listener) {
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					conn.Write([]byte("451 4.3.2 Try again later\r\n"))
					conn.Close()
				}
			}()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, files, _, _, _ := e2eSetup(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			tt.serve(l)
			ca := tlstest.NewCA(t, "sealmail test CA")
			caFile, passwordFile := filepath.Join(files, "ca.pem"), filepath.Join(files, "password")
			if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(passwordFile, []byte(smtpTestPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			sendmailConfig(t, home, "127.0.0.1", port, caFile, passwordFile, "")

			status, _, stderr := runCLI(t, home, sendmailMessage, "sendmail", "-t")
			if status != exitTempFail {
				t.Errorf("exit status %d, want %d; stderr: %s", status, exitTempFail, stderr)
			}
			if !strings.Contains(stderr, "nothing was sent") {
				t.Errorf("stderr %q does not say that nothing was sent", stderr)
			}
			if files := spoolFiles(t, home); len(files) != 0 {
				t.Errorf("the spool holds %q, want nothing", files)
			}
			if sent, _ := sentCopies(t, home); len(sent) != 0 {
				t.Errorf("the sent Maildir holds %d copies, want none", len(sent))
			}
		})
	}
}

// TestSendmailSessionSetup has sendmail fail to set up the SMTP session for
// causes that only new settings fix: it exits with 78, sends nothing, leaves
// nothing in the queue, and reports on standard error that nothing is left.
func TestSendmailSessionSetup(t *testing.T) {
	message := strings.Replace(sendmailMessage, "Bcc: carol@example.org\n", "", 1)
	tests := []struct {
		name string
		// setup starts the server and returns the [smtp] table of
		// config.toml for it.
		setup func(t *testing.T) string
		want  []string
	}{
		{"wrong password", func(t *testing.T) string {
			server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
			if err := os.WriteFile(passwordFile, []byte("not the password\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("host = %q\nport = %d\ntls = \"starttls\"\nuser = %q\npassword_file = %q\nca_file = %q\n",
				server.SMTPHost, server.SMTPPort, smtpTestUser, passwordFile, caFile)
		}, []string{"535", "sealmail smtp-password --region REGION"}},
		{"untrusted certificate", func(t *testing.T) string {
			server, _, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
			return fmt.Sprintf("host = %q\nport = %d\ntls = \"starttls\"\nuser = %q\npassword_file = %q\n",
				server.SMTPHost, server.SMTPPort, smtpTestUser, passwordFile)
		}, []string{"certificate", "ca_file in [smtp] of config.toml"}},
		{"implicit TLS on a STARTTLS port", func(t *testing.T) string {
			server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
			return fmt.Sprintf("host = %q\nport = %d\ntls = \"implicit\"\nuser = %q\npassword_file = %q\nca_file = %q\n",
				server.SMTPHost, server.SMTPPort, smtpTestUser, passwordFile, caFile)
		}, []string{"use TLS mode starttls"}},
		{"no STARTTLS", func(t *testing.T) string {
			server := mailpit.Start(t, mailpit.Options{TLS: mailpit.NoTLS})
			return fmt.Sprintf("host = %q\nport = %d\ntls = \"starttls\"\n", server.SMTPHost, server.SMTPPort)
		}, []string{"does not offer STARTTLS"}},
		{"no greeting", func(t *testing.T) string {
			if testing.Short() {
				t.Skip("waits 15 s for the greeting")
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					// The connection stays open and silent, as an implicit
					// TLS port waits for the client's handshake.
					t.Cleanup(func() { conn.Close() })
				}
			}()
			return fmt.Sprintf("host = \"127.0.0.1\"\nport = %d\ntls = \"starttls\"\n", l.Addr().(*net.TCPAddr).Port)
		}, []string{"no SMTP greeting", "implicit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, _, _, _, _ := e2eSetup(t)
			config := "via = \"smtp\"\n[smtp]\n" + tt.setup(t)
			if err := os.WriteFile(filepath.Join(home, configFileName), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}

			status, _, stderr := runCLI(t, home, message, "sendmail", "-t")
			if status != exitConfig {
				t.Errorf("exit status %d, want %d; stderr: %s", status, exitConfig, stderr)
			}
			for _, want := range append(tt.want, "Nothing is left in the queue") {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not contain %q", stderr, want)
				}
			}
			for _, unwanted := range []string{"kept in the queue", "refused", "smtp.SESPassword"} {
				if strings.Contains(stderr, unwanted) {
					t.Errorf("stderr %q contains %q", stderr, unwanted)
				}
			}
			if files := spoolFiles(t, home); len(files) != 0 {
				t.Errorf("the spool holds %q, want nothing", files)
			}
			if sent, _ := sentCopies(t, home); len(sent) != 0 {
				t.Errorf("the sent Maildir holds %d copies, want none", len(sent))
			}
		})
	}
}

// TestSendmailSMIME sends through sendmail with scheme smime, and openssl
// smime decrypts what mailpit received.
func TestSendmailSMIME(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	server, caFile, passwordFile := smtpSetup(t, mailpit.RequireSTARTTLS)
	home, files, people := smimeSetup(t, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	extra := fmt.Sprintf("scheme = \"smime\"\npassphrase_file = %q", filepath.Join(files, "pass.txt"))
	sendmailConfig(t, home, server.SMTPHost, server.SMTPPort, caFile, passwordFile, extra)

	status, _, stderr := runCLI(t, home, strings.Replace(sendmailMessage, "Bcc: carol@example.org\n", "", 1), "sendmail", "bob@example.org")
	if status != 0 {
		t.Fatalf("sendmail: exit status %d: %s", status, stderr)
	}
	raws := mailpitMessages(t, server)
	if len(raws) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(raws))
	}
	if !bytes.Contains(raws[0], []byte("application/pkcs7-mime")) {
		t.Fatalf("the message is not S/MIME encrypted:\n%s", raws[0])
	}
	decrypted := runOpenSSL(t, openssl, raws[0], "smime", "-decrypt", "-recip", people["bob"].certFile, "-inkey", people["bob"].keyFile)
	entity := runOpenSSL(t, openssl, decrypted, "smime", "-verify", "-CAfile", filepath.Join(files, "ca.pem"))
	if !bytes.Contains(entity, []byte("the figures are attached.")) {
		t.Errorf("the decrypted entity lacks the text:\n%s", entity)
	}
}
