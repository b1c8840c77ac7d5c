package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/peers"
)

// privateSubject is the subject of the privacy tests: non-ASCII, so that it
// travels as RFC 2047 encoded words, and with words that must not appear in
// the outer header of an encrypted copy.
const privateSubject = "Übernahme der Firma Acme"

// sendToOutbox runs sealmail send with args, which choose no transport,
// and returns the copies it added to the outbox, by their envelope
// recipients joined with commas.
func sendToOutbox(t *testing.T, home string, args ...string) map[string][]byte {
	t.Helper()
	outbox := filepath.Join(home, "outbox")
	before := maildirCopies(t, outbox)
	if status, _, stderr := runCLI(t, home, "", append([]string{"send"}, args...)...); status != 0 {
		t.Fatalf("send: exit status %d: %s", status, stderr)
	}

	copies := map[string][]byte{}
	for _, c := range maildirCopies(t, outbox) {
		if !slices.ContainsFunc(before, func(b maildirCopy) bool { return b.path == c.path }) {
			copies[strings.Join(c.record.Envelope.Recipients, ",")] = c.raw
		}
	}
	return copies
}

// onlyCopy returns the single copy of copies.
func onlyCopy(t *testing.T, copies map[string][]byte) []byte {
	t.Helper()
	if len(copies) != 1 {
		t.Fatalf("send wrote %d copies, want 1", len(copies))
	}
	for _, raw := range copies {
		return raw
	}
	return nil
}

// notmuchMessage is the part of a message in notmuch show --format=json
// output that the privacy tests read.
type notmuchMessage struct {
	ID      string            `json:"id"`
	Headers map[string]string `json:"headers"`
	Crypto  struct {
		Signed *struct {
			Status []struct {
				Status string `json:"status"`
			} `json:"status"`
			Encrypted bool `json:"encrypted"`
			// Headers names the header fields that the signature covers.
			Headers []string `json:"headers"`
		} `json:"signed"`
		Decrypted *struct {
			Status string `json:"status"`
			// HeaderMask contains the outer values of the fields that the
			// decrypted header copy replaces.
			HeaderMask map[string]string `json:"header-mask"`
		} `json:"decrypted"`
	} `json:"crypto"`
}

// notmuchMessages runs notmuchShow on the Maildir dir and returns the
// messages of its output.
func notmuchMessages(t *testing.T, dir, gnupgHome string) []notmuchMessage {
	t.Helper()
	out := notmuchShow(t, dir, gnupgHome)

	// The output is a list of threads, each a tree of [message, replies]
	// pairs. A message is the object with an id and headers.
	var tree any
	if err := json.Unmarshal(out, &tree); err != nil {
		t.Fatalf("notmuch show printed invalid JSON: %v\n%s", err, out)
	}
	var messages []notmuchMessage
	var walk func(node any)
	walk = func(node any) {
		switch n := node.(type) {
		case []any:
			for _, child := range n {
				walk(child)
			}
		case map[string]any:
			if _, ok := n["headers"]; !ok {
				return
			}
			data, err := json.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			var m notmuchMessage
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("notmuch message does not decode: %v\n%s", err, data)
			}
			messages = append(messages, m)
		}
	}
	walk(tree)
	return messages
}

// checkNotmuchProtected checks that notmuch shows the protected Subject of
// the only message, that it verified the signature when signed, and that
// its header mask has the outer "[...]" when encrypted.
func checkNotmuchProtected(t *testing.T, messages []notmuchMessage, signed, encrypted bool) {
	t.Helper()
	if len(messages) != 1 {
		t.Fatalf("notmuch shows %d messages, want 1", len(messages))
	}
	m := messages[0]
	if got := m.Headers["Subject"]; got != privateSubject {
		t.Errorf("notmuch shows the Subject %q, want the protected %q", got, privateSubject)
	}

	if encrypted {
		switch {
		case m.Crypto.Decrypted == nil:
			t.Errorf("notmuch reports no decryption")
		case m.Crypto.Decrypted.Status != "full":
			t.Errorf("notmuch reports decryption %q, want full", m.Crypto.Decrypted.Status)
		case m.Crypto.Decrypted.HeaderMask["Subject"] != "[...]":
			t.Errorf("notmuch header mask = %q, want Subject \"[...]\"", m.Crypto.Decrypted.HeaderMask)
		}
	} else if m.Crypto.Decrypted != nil {
		t.Errorf("notmuch reports a decryption of a message that is only signed")
	}

	if !signed {
		return
	}
	if m.Crypto.Signed == nil || len(m.Crypto.Signed.Status) != 1 || m.Crypto.Signed.Status[0].Status != "good" {
		t.Fatalf("notmuch reports no good signature: %+v", m.Crypto.Signed)
	}
	if m.Crypto.Signed.Encrypted != encrypted {
		t.Errorf("notmuch reports signed.encrypted = %v, want %v", m.Crypto.Signed.Encrypted, encrypted)
	}
	// notmuch lists a header field here when the signed header copy has it
	// with the value the message shows.
	if !slices.Contains(m.Crypto.Signed.Headers, "Subject") {
		t.Errorf("notmuch does not report the Subject as signed: %q", m.Crypto.Signed.Headers)
	}
}

// TestProtectedSubjectNotmuch sends PGP/MIME copies with header protection
// to the outbox and checks that notmuch shows the protected Subject, with
// the outer "[...]" in its header mask when encrypted.
func TestProtectedSubjectNotmuch(t *testing.T) {
	for _, mode := range []string{"--sign+encrypt", "--encrypt", "--sign"} {
		t.Run(strings.TrimPrefix(mode, "--"), func(t *testing.T) {
			home, files, alice, bob, _ := e2eSetup(t)
			args := []string{"--from", "alice@example.org", "--to", "bob@example.org", "--subject", privateSubject,
				"--text", filepath.Join(files, "body.txt")}
			if mode != "--sign+encrypt" {
				args = append(args, mode)
			}
			raw := onlyCopy(t, sendToOutbox(t, home, args...))
			checkOuterHidesSubject(t, raw, mode != "--sign")

			g := gpgtest.New(t)
			g.Import(t, bob.secret)
			g.Import(t, alice.public)
			messages := notmuchMessages(t, filepath.Join(home, "outbox"), g.Home)
			checkNotmuchProtected(t, messages, mode != "--encrypt", mode != "--sign")
		})
	}
}

// TestProtectedSubjectNotmuchSMIME sends S/MIME copies with header
// protection to the outbox and checks that notmuch, through gpgsm, shows
// the protected Subject, with the outer "[...]" in its header mask when
// encrypted.
func TestProtectedSubjectNotmuchSMIME(t *testing.T) {
	for _, mode := range []string{"--sign+encrypt", "--encrypt", "--sign"} {
		t.Run(strings.TrimPrefix(mode, "--"), func(t *testing.T) {
			home, files, people := smimeSetup(t, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) })
			g := newGpgsmHome(t, files)
			g.importIdentity(t, files, people["bob"])
			g.presetPassphrase(t)

			args := []string{"--smime", "--passphrase-file", filepath.Join(files, "pass.txt"),
				"--from", "alice@example.org", "--to", "bob@example.org", "--subject", privateSubject,
				"--text", filepath.Join(files, "body.txt")}
			if mode != "--sign+encrypt" {
				args = append(args, mode)
			}
			raw := onlyCopy(t, sendToOutbox(t, home, args...))
			checkOuterHidesSubject(t, raw, mode != "--sign")

			messages := notmuchMessages(t, filepath.Join(home, "outbox"), g.dir)
			checkNotmuchProtected(t, messages, mode != "--encrypt", mode != "--sign")
		})
	}
}

// checkOuterHidesSubject checks the raw outer header of a copy of a
// message with privateSubject: "[...]" and none of the subject's words
// when encrypted, the subject itself when only signed.
func checkOuterHidesSubject(t *testing.T, raw []byte, encrypted bool) {
	t.Helper()
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	subject := mime.QEncoding.Encode("utf-8", privateSubject)
	if !encrypted {
		if !bytes.Contains(header, []byte("\r\nSubject: "+subject+"\r\n")) {
			t.Errorf("the outer header of a signed-only copy lacks the Subject %q:\n%s", subject, header)
		}
		return
	}
	if !bytes.Contains(header, []byte("\r\nSubject: [...]\r\n")) {
		t.Errorf("the outer header has no Subject \"[...]\":\n%s", header)
	}
	// The Autocrypt keydata is base64, which may spell a short word by
	// chance, so only the lines before it are searched.
	visible, _, _ := bytes.Cut(header, []byte("\r\nAutocrypt:"))
	for _, word := range []string{"=C3=9Cbernahme", "bernahme", "Firma", "Acme"} {
		if bytes.Contains(visible, []byte(word)) {
			t.Errorf("the outer header shows %q of the subject:\n%s", word, visible)
		}
	}
}

// TestAutocryptHeaderImports imports a message that sealmail sent into a
// second home, whose keyring learns the sender's key from the Autocrypt
// header. That home then encrypts to the sender, and gpg with the sender's
// secret key must decrypt it.
func TestAutocryptHeaderImports(t *testing.T) {
	for _, mode := range []string{"--sign+encrypt", "--sign"} {
		t.Run(strings.TrimPrefix(mode, "--"), func(t *testing.T) {
			home, files, alice, bob, _ := e2eSetup(t)
			args := []string{"--from", "Alice <alice@example.org>", "--to", "bob@example.org", "--subject", privateSubject,
				"--text", filepath.Join(files, "body.txt")}
			if mode == "--sign" {
				args = append(args, mode)
			}
			received := filepath.Join(files, "received.eml")
			if err := os.WriteFile(received, onlyCopy(t, sendToOutbox(t, home, args...)), 0o600); err != nil {
				t.Fatal(err)
			}
			bobSecret := filepath.Join(files, "bob.sec")
			if err := os.WriteFile(bobSecret, bob.secret, 0o600); err != nil {
				t.Fatal(err)
			}

			bobHome := t.TempDir()
			status, stdout, stderr := runCLI(t, bobHome, "", "keyring", "import", bobSecret, received)
			if status != 0 {
				t.Fatalf("keyring import: exit status %d: %s", status, stderr)
			}
			if !strings.Contains(stdout, "(from the Autocrypt header of alice@example.org)") {
				t.Errorf("keyring import printed no Autocrypt origin:\n%s", stdout)
			}
			status, shownKey, stderr := runCLI(t, bobHome, "", "keyring", "show", "alice@example.org")
			if status != 0 {
				t.Fatalf("keyring show: exit status %d: %s", status, stderr)
			}
			fingerprint := fmt.Sprintf("%X", alice.entity.PrimaryKey.Fingerprint)
			if !strings.Contains(strings.ReplaceAll(strings.ToUpper(shownKey), " ", ""), fingerprint) {
				t.Errorf("keyring show does not name Alice's fingerprint %s:\n%s", fingerprint, shownKey)
			}

			status, reply, stderr := runCLI(t, bobHome, "", "compose", "--encrypt", "--from", "bob@example.org", "--to", "alice@example.org",
				"--subject", "Re: offer", "--text", filepath.Join(files, "body.txt"))
			if status != 0 {
				t.Fatalf("compose to the Autocrypt key: exit status %d: %s", status, stderr)
			}
			g := gpgtest.New(t)
			g.Import(t, alice.secret)
			entity := gpgDecrypt(t, g, []byte(reply), false)
			if !bytes.Contains(entity, []byte("the figures are attached.")) {
				t.Errorf("gpg decrypted the reply to\n%s\nwhich lacks the text", entity)
			}
		})
	}
}

// gossipKeys maps the addr of each Autocrypt-Gossip field in the header of
// the decrypted entity to the primary key fingerprints that gpg reads from
// its keydata.
func gossipKeys(t *testing.T, g *gpgtest.GPG, entity []byte) map[string][]string {
	t.Helper()
	header, _, ok := bytes.Cut(entity, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("the decrypted entity has no header:\n%s", entity)
	}
	unfolded := strings.ReplaceAll(strings.ReplaceAll(string(header), "\r\n ", " "), "\r\n\t", "\t")
	keys := map[string][]string{}
	for _, line := range strings.Split(unfolded, "\r\n") {
		value, ok := strings.CutPrefix(line, "Autocrypt-Gossip: ")
		if !ok {
			continue
		}
		attributes := map[string]string{}
		for _, attribute := range strings.Split(value, ";") {
			name, v, _ := strings.Cut(strings.TrimSpace(attribute), "=")
			attributes[name] = strings.Join(strings.Fields(v), "")
		}
		data, err := base64.StdEncoding.DecodeString(attributes["keydata"])
		if err != nil {
			t.Fatalf("Autocrypt-Gossip keydata for %s is not base64: %v", attributes["addr"], err)
		}
		listing, stderr, err := g.Run(t, data, "--with-colons", "--show-keys")
		if err != nil {
			t.Fatalf("gpg --show-keys of the gossip for %s: %v\n%s", attributes["addr"], err, stderr)
		}
		// The fpr record right after a pub record is the primary key's.
		record := ""
		for _, l := range strings.Split(string(listing), "\n") {
			fields := strings.Split(l, ":")
			if fields[0] == "fpr" && record == "pub" && len(fields) > 9 {
				keys[attributes["addr"]] = append(keys[attributes["addr"]], fields[9])
			}
			record = fields[0]
		}
	}
	return keys
}

// TestGossipToCcBcc sends a message to To, Cc and Bcc recipients and has
// gpg decrypt each copy: the To/Cc copy gossips exactly the To and Cc keys,
// and the Bcc copy gossips nothing.
func TestGossipToCcBcc(t *testing.T) {
	home, files, alice, bob, carol := e2eSetup(t)
	dave := newPerson(t, "dave@example.org")
	daveFile := filepath.Join(files, "dave.asc")
	if err := os.WriteFile(daveFile, dave.public, 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", daveFile); status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderr)
	}

	copies := sendToOutbox(t, home, "--from", "alice@example.org", "--to", "bob@example.org", "--cc", "carol@example.org",
		"--bcc", "dave@example.org", "--subject", privateSubject, "--text", filepath.Join(files, "body.txt"))
	shared, bcc := copies["bob@example.org,carol@example.org"], copies["dave@example.org"]
	if len(copies) != 2 || shared == nil || bcc == nil {
		t.Fatalf("send wrote copies for %q, want one for bob and carol and one for dave", slices.Collect(maps.Keys(copies)))
	}

	fingerprint := func(p *person) string { return fmt.Sprintf("%X", p.entity.PrimaryKey.Fingerprint) }
	bobGPG := gpgtest.New(t)
	bobGPG.Import(t, bob.secret)
	bobGPG.Import(t, alice.public)
	got := gossipKeys(t, bobGPG, gpgDecrypt(t, bobGPG, shared, true))
	want := map[string][]string{"bob@example.org": {fingerprint(bob)}, "carol@example.org": {fingerprint(carol)}}
	if len(got) != len(want) {
		t.Errorf("the To/Cc copy gossips %v, want %v", got, want)
	}
	for address, fingerprints := range want {
		if !slices.Equal(got[address], fingerprints) {
			t.Errorf("the To/Cc copy gossips %v for %s, want %v", got[address], address, fingerprints)
		}
	}

	daveGPG := gpgtest.New(t)
	daveGPG.Import(t, dave.secret)
	daveGPG.Import(t, alice.public)
	entity := gpgDecrypt(t, daveGPG, bcc, true)
	if bytes.Contains(entity, []byte("Autocrypt-Gossip")) {
		t.Errorf("the Bcc copy gossips:\n%s", entity)
	}
	if got := gossipKeys(t, daveGPG, entity); len(got) != 0 {
		t.Errorf("the Bcc copy gossips %v, want nothing", got)
	}
}

// partOf returns the decoded body of the first part of mediaType in the
// MIME entity, searched depth first.
func partOf(t *testing.T, entity []byte, mediaType string) []byte {
	t.Helper()
	for _, p := range leafParts(t, entity) {
		if p.mediaType == mediaType {
			return p.body
		}
	}
	t.Fatalf("the protected entity has no %s part:\n%s", mediaType, entity)
	return nil
}

// TestAttachKeyImportsIntoGPG sends a message with --attach-key and has gpg
// decrypt it as the recipient and import the attached key into an empty
// home: alice's primary key, one user ID and one encryption subkey.
func TestAttachKeyImportsIntoGPG(t *testing.T) {
	home, files, alice, bob, _ := e2eSetup(t)
	raw := onlyCopy(t, sendToOutbox(t, home, "--attach-key", "--from", "alice@example.org", "--to", "bob@example.org",
		"--subject", privateSubject, "--text", filepath.Join(files, "body.txt")))
	if bytes.Contains(raw, []byte("application/pgp-keys")) {
		t.Errorf("the key part is visible outside the encryption")
	}

	reader := gpgtest.New(t)
	reader.Import(t, bob.secret)
	reader.Import(t, alice.public)
	key := partOf(t, gpgDecrypt(t, reader, raw, true), "application/pgp-keys")

	g := gpgtest.New(t)
	status, _, stderr, err := g.Status(t, key, "--import")
	if err != nil || !gpgtest.HasStatus(status, "IMPORT_OK") {
		t.Fatalf("gpg --import of the attached key failed (%v):\n%s", err, stderr)
	}
	listing, stderr, err := g.Run(t, nil, "--with-colons", "--list-keys")
	if err != nil {
		t.Fatalf("gpg --list-keys: %v\n%s", err, stderr)
	}
	var pub, uid, sub [][]string
	for _, line := range strings.Split(string(listing), "\n") {
		fields := strings.Split(line, ":")
		switch fields[0] {
		case "pub":
			pub = append(pub, fields)
		case "uid":
			uid = append(uid, fields)
		case "sub":
			sub = append(sub, fields)
		}
	}
	if want := fmt.Sprintf("%X", alice.entity.PrimaryKey.Fingerprint); len(pub) != 1 || gpgFingerprint(t, g, "alice@example.org") != want {
		t.Errorf("gpg lists %d keys, want only alice's %s", len(pub), want)
	}
	if len(uid) != 1 || !strings.Contains(uid[0][9], "<alice@example.org>") {
		t.Errorf("gpg lists the user IDs %q, want one for alice@example.org", uid)
	}
	if len(sub) != 1 || sub[0][4] != alice.encryptionKeyID(t) || !strings.Contains(sub[0][11], "e") {
		t.Errorf("gpg lists the subkeys %q, want only the encryption subkey %s", sub, alice.encryptionKeyID(t))
	}
}

// TestAttachCertImports sends an S/MIME message with --attach-cert, which
// openssl decrypts as the recipient and verifies. openssl pkcs7 and gpgsm
// must read alice's certificate and the intermediate, and no root, from
// the certs-only part.
func TestAttachCertImports(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	home, files, people := smimeSetup(t, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	raw := onlyCopy(t, sendToOutbox(t, home, "--smime", "--attach-cert", "--passphrase-file", filepath.Join(files, "pass.txt"),
		"--from", "alice@example.org", "--to", "bob@example.org", "--subject", privateSubject, "--text", filepath.Join(files, "body.txt")))
	if bytes.Contains(raw, []byte("smime.p7c")) {
		t.Errorf("the certificate part is visible outside the encryption")
	}

	// openssl cms -verify may write the content with LF line endings.
	entity := opensslOpen(t, openssl, files, raw, people["bob"], true, true)
	entity = bytes.ReplaceAll(bytes.ReplaceAll(entity, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	p7c := filepath.Join(files, "smime.p7c")
	if err := os.WriteFile(p7c, partOf(t, entity, "application/pkcs7-mime"), 0o600); err != nil {
		t.Fatal(err)
	}

	printed := string(runOpenSSL(t, openssl, nil, "pkcs7", "-inform", "DER", "-in", p7c, "-print_certs", "-noout"))
	if n := strings.Count(printed, "subject="); n != 2 {
		t.Errorf("openssl pkcs7 -print_certs lists %d certificates, want alice's and the intermediate:\n%s", n, printed)
	}
	for _, want := range []string{"Test alice", "sealmail demo intermediate CA"} {
		if !strings.Contains(printed, want) {
			t.Errorf("openssl pkcs7 -print_certs lacks %q:\n%s", want, printed)
		}
	}
	if regexp.MustCompile(`(?m)^subject=.*root CA`).MatchString(printed) {
		t.Errorf("the certs-only part contains the root:\n%s", printed)
	}

	// newGpgsmHome imports the intermediate with the root. Deleting it
	// first makes gpgsm take the intermediate from the part.
	g := newGpgsmHome(t, files)
	g.mustRun(t, nil, "--delete-keys", "sealmail demo intermediate CA")
	_, status, stderr, err := g.run(t, nil, "--import", p7c)
	if err != nil || !gpgtest.HasStatus(status, "IMPORT_OK") {
		t.Fatalf("gpgsm --import of smime.p7c failed (%v):\n%s", err, stderr)
	}
	listing := g.mustRun(t, nil, "--with-colons", "--with-validation", "--list-keys", "alice@example.org")
	if !bytes.Contains(listing, []byte("<alice@example.org>")) {
		t.Errorf("gpgsm lists no certificate for alice@example.org:\n%s", listing)
	}
	g.mustRun(t, nil, "--list-keys", "sealmail demo intermediate CA")
}
