package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/smallstep/pkcs7"

	"github.com/sealmail/sealmail/crypto/pgpmime"
	"github.com/sealmail/sealmail/crypto/smime"
)

// protectedSubject is the subject of the header protection tests. Its words
// must not appear in the outer header of an encrypted copy.
const protectedSubject = "Übernahme der Firma Acme"

// protectedFieldNames are the fields of protectedMessage that header
// protection copies inside, in the order of the outer header.
var protectedFieldNames = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "X-Mailer"}

// protectedMessage returns a message with every field that header
// protection copies, and a Bcc recipient that it must never name.
func protectedMessage() *Message {
	return &Message{
		From:    addr("Alice <alice@example.org>"),
		To:      addrs("Bob <bob@example.org>"),
		Cc:      addrs("carol@example.org"),
		Bcc:     addrs("dave@example.org"),
		ReplyTo: addrs("team@example.org"),
		Subject: protectedSubject,
		Date:    time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Header: []Field{
			{"In-Reply-To", "<offer@example.org>"},
			{"References", "<offer@example.org>"},
			{"X-Mailer", "sealmail test"},
		},
		Text: []byte("Hello,\nthe offer stands.\n"),
	}
}

// protectedPeople contains an OpenPGP key and an S/MIME identity for alice,
// bob, carol and dave at example.org, so that one test can compose with
// either scheme and open every copy.
type protectedPeople struct {
	pgp   *people
	smime map[string]*smime.Signer
}

func newProtectedPeople(t *testing.T) *protectedPeople {
	t.Helper()
	names := []string{"alice", "bob", "carol", "dave"}
	p := &protectedPeople{pgp: newPeople(t, names...), smime: map[string]*smime.Signer{}}
	dir := t.TempDir()
	for _, name := range names {
		signer, _, _ := newSMIMEIdentity(t, dir, name+"@example.org")
		p.smime[name+"@example.org"] = signer
	}
	return p
}

// options returns the options that protect as alice with scheme and mode.
func (p *protectedPeople) options(scheme Scheme, mode Mode) Options {
	if scheme == SMIME {
		certs := testCertificates{}
		for address, signer := range p.smime {
			certs[address] = signer.Certificate
		}
		return Options{Mode: mode, Scheme: SMIME, SMIMESigner: p.smime["alice@example.org"], Certificates: certs}
	}
	return Options{Mode: mode, Signer: p.pgp.keys["alice@example.org"], Keys: p.pgp.keys}
}

// open decrypts raw as reader, checks alice's signature when mode signs,
// and returns the protected entity.
func (p *protectedPeople) open(t *testing.T, scheme Scheme, mode Mode, raw []byte, reader string) []byte {
	t.Helper()
	var entity []byte
	var encrypted, signed bool
	var signatureErr error
	if scheme == SMIME {
		alice := p.smime["alice@example.org"]
		roots := x509.NewCertPool()
		roots.AddCert(alice.Certificate)
		opened, err := smime.Open(bytes.NewReader(raw), p.smime[reader].Certificate, p.smime[reader].Key, roots, nil)
		if err != nil {
			t.Fatalf("smime.Open as %s: %v", reader, err)
		}
		entity, encrypted, signed, signatureErr = opened.Entity, opened.Encrypted, opened.Signed, opened.SignatureErr
	} else {
		keys := openpgp.EntityList{p.pgp.keys["alice@example.org"], p.pgp.keys[reader]}
		opened, err := pgpmime.Open(bytes.NewReader(raw), keys, nil)
		if err != nil {
			t.Fatalf("pgpmime.Open as %s: %v", reader, err)
		}
		entity, encrypted, signed, signatureErr = opened.Entity, opened.Encrypted, opened.Signed, opened.SignatureErr
	}
	if encrypted != mode.encrypts() {
		t.Errorf("encrypted = %v, want %v", encrypted, mode.encrypts())
	}
	if signed != mode.signs() || signatureErr != nil {
		t.Errorf("signed = %v (signature error %v), want %v with a good signature", signed, signatureErr, mode.signs())
	}
	return entity
}

// copyReader returns the recipient who decrypts copy i of c: bob for the
// To/Cc copy, the Bcc recipient for a Bcc copy.
func copyReader(c *Composer, i int) string {
	if bcc := c.Copies()[i].Bcc; bcc != "" {
		return bcc
	}
	return "bob@example.org"
}

// headerFieldsOf returns the header fields at the start of entity in order,
// unfolded (the CRLF before each continuation line removed) and with the
// white space after the colon dropped.
func headerFieldsOf(t *testing.T, entity []byte) []Field {
	t.Helper()
	header, _, ok := bytes.Cut(entity, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("the entity has no empty line after its header:\n%s", entity)
	}
	var fields []Field
	for _, line := range strings.Split(string(header), "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if len(fields) == 0 {
				t.Fatalf("the header starts with a continuation line %q", line)
			}
			fields[len(fields)-1].Value += line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("header line %q is not a field", line)
		}
		fields = append(fields, Field{name, strings.TrimLeft(value, " \t")})
	}
	return fields
}

// fieldValues returns the values of the fields named name, compared without
// regard to case.
func fieldValues(fields []Field, name string) []string {
	var values []string
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			values = append(values, f.Value)
		}
	}
	return values
}

// fieldValue returns the value of the only field named name, failing the
// test when there is not exactly one.
func fieldValue(t *testing.T, fields []Field, name string) string {
	t.Helper()
	values := fieldValues(fields, name)
	if len(values) != 1 {
		t.Fatalf("got %d %s fields, want 1: %q", len(values), name, fields)
	}
	return values[0]
}

// decodeSubject decodes the RFC 2047 encoded words of a Subject value.
func decodeSubject(t *testing.T, value string) string {
	t.Helper()
	decoded, err := new(mime.WordDecoder).DecodeHeader(value)
	if err != nil {
		t.Fatalf("Subject %q does not decode: %v", value, err)
	}
	return decoded
}

// outerMessageFields returns the outer fields that are the message's own:
// all but MIME-Version, the Content-* fields and Autocrypt, which sealmail
// adds.
func outerMessageFields(outer []Field) []Field {
	var own []Field
	for _, f := range outer {
		name := strings.ToLower(f.Name)
		if name == "mime-version" || name == "autocrypt" || strings.HasPrefix(name, "content-") {
			continue
		}
		own = append(own, f)
	}
	return own
}

// innerHeaderCopy returns the fields of the protected entity's header that
// copy the message's header: all but Content-Type, HP-Outer and
// Autocrypt-Gossip.
func innerHeaderCopy(inner []Field) []Field {
	var copied []Field
	for _, f := range inner {
		switch strings.ToLower(f.Name) {
		case "content-type", "hp-outer", "autocrypt-gossip":
			continue
		}
		copied = append(copied, f)
	}
	return copied
}

// contentTypeOf parses the Content-Type field of fields.
func contentTypeOf(t *testing.T, fields []Field) (string, map[string]string) {
	t.Helper()
	value := fieldValue(t, fields, "Content-Type")
	mediaType, params, err := mime.ParseMediaType(value)
	if err != nil {
		t.Fatalf("Content-Type %q does not parse: %v", value, err)
	}
	return mediaType, params
}

var allModes = []Mode{SignAndEncrypt, EncryptOnly, SignOnly}

func schemeName(s Scheme) string {
	if s == SMIME {
		return "smime"
	}
	return "pgp"
}

// TestProtectedPayload checks the protected entity of every copy for each
// scheme and mode: the hp and protected-headers parameters, the header copy
// with the real Subject, the HP-Outer fields of an encrypted copy, and the
// outer Subject.
func TestProtectedPayload(t *testing.T) {
	p := newProtectedPeople(t)
	for _, scheme := range []Scheme{PGP, SMIME} {
		for _, mode := range allModes {
			t.Run(schemeName(scheme)+"/"+mode.String(), func(t *testing.T) {
				c, err := New(context.Background(), protectedMessage(), p.options(scheme, mode))
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				raws := writeCopies(t, c)
				wantCopies := 2
				if mode == SignOnly {
					wantCopies = 1
				}
				if len(raws) != wantCopies {
					t.Fatalf("got %d copies, want %d", len(raws), wantCopies)
				}
				for i, raw := range raws {
					entity := p.open(t, scheme, mode, raw, copyReader(c, i))
					checkProtectedCopy(t, mode, headerFieldsOf(t, raw), headerFieldsOf(t, entity))
				}
			})
		}
	}
}

// checkProtectedCopy checks the outer header and the protected entity's
// header of one copy of protectedMessage.
func checkProtectedCopy(t *testing.T, mode Mode, outer, inner []Field) {
	t.Helper()
	mediaType, params := contentTypeOf(t, inner)
	wantHP := "cipher"
	if mode == SignOnly {
		wantHP = "clear"
	}
	if mediaType != "multipart/mixed" || params["hp"] != wantHP || params["protected-headers"] != "v1" {
		t.Errorf("protected entity is %s with hp=%q protected-headers=%q, want multipart/mixed with hp=%q protected-headers=\"v1\"",
			mediaType, params["hp"], params["protected-headers"], wantHP)
	}

	copied := innerHeaderCopy(inner)
	var names []string
	for _, f := range copied {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, protectedFieldNames) {
		t.Errorf("protected fields are %q, want %q", names, protectedFieldNames)
	}
	if len(fieldValues(inner, "Bcc")) != 0 || len(fieldValues(outer, "Bcc")) != 0 {
		t.Errorf("a header names the Bcc recipient:\nouter %q\ninner %q", outer, inner)
	}
	for _, f := range copied {
		if f.Name == "Subject" {
			continue
		}
		if got := fieldValue(t, outer, f.Name); got != f.Value {
			t.Errorf("protected %s = %q, but the outer header has %q", f.Name, f.Value, got)
		}
	}
	if got := decodeSubject(t, fieldValue(t, inner, "Subject")); got != protectedSubject {
		t.Errorf("protected Subject = %q, want %q", got, protectedSubject)
	}

	outerSubject := fieldValue(t, outer, "Subject")
	hpOuter := fieldValues(inner, "HP-Outer")
	if mode == SignOnly {
		if got := decodeSubject(t, outerSubject); got != protectedSubject {
			t.Errorf("outer Subject of a signed-only copy = %q, want %q", got, protectedSubject)
		}
		if len(hpOuter) != 0 {
			t.Errorf("signed-only copy has HP-Outer fields %q, want none", hpOuter)
		}
		if !slices.Equal(copied, outerMessageFields(outer)) {
			t.Errorf("signed-only header copy\n%q\ndiffers from the outer header\n%q", copied, outerMessageFields(outer))
		}
		return
	}

	if outerSubject != "[...]" {
		t.Errorf("outer Subject of an encrypted copy = %q, want \"[...]\"", outerSubject)
	}
	// Every outer field of the message but Date and Message-ID, which
	// Amazon SES replaces, is recorded with its outer value.
	var wantHPOuter []string
	for _, f := range outerMessageFields(outer) {
		if f.Name != "Date" && f.Name != "Message-ID" {
			wantHPOuter = append(wantHPOuter, f.Name+": "+f.Value)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(hpOuter)), slices.Sorted(slices.Values(wantHPOuter))) {
		t.Errorf("HP-Outer fields are\n%q\nwant\n%q", hpOuter, wantHPOuter)
	}
	if !slices.Contains(hpOuter, "Subject: [...]") {
		t.Errorf("HP-Outer fields %q do not record the outer Subject \"[...]\"", hpOuter)
	}
}

// TestProtectedOuterHidesSubject checks that the raw outer header of an
// encrypted copy contains neither the words of the subject nor its encoded
// form, for an ASCII and a non-ASCII subject.
func TestProtectedOuterHidesSubject(t *testing.T) {
	p := newProtectedPeople(t)
	subjects := []struct {
		subject string
		words   []string
	}{
		{"Quarterly figures of Acme", []string{"Quarterly", "figures", "Acme"}},
		{protectedSubject, []string{"Übernahme", "bernahme", "Firma", "Acme", "=C3=9C"}},
	}
	for _, scheme := range []Scheme{PGP, SMIME} {
		for _, mode := range []Mode{SignAndEncrypt, EncryptOnly} {
			for _, s := range subjects {
				m := protectedMessage()
				m.Subject = s.subject
				c, err := New(context.Background(), m, p.options(scheme, mode))
				if err != nil {
					t.Fatalf("%s %v: New: %v", schemeName(scheme), mode, err)
				}
				for i, raw := range writeCopies(t, c) {
					header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
					// The Autocrypt keydata is base64 of a key, which
					// may spell a short word by chance.
					visible := withoutField(string(header), "Autocrypt")
					inner := headerFieldsOf(t, p.open(t, scheme, mode, raw, copyReader(c, i)))
					encoded := fieldValue(t, inner, "Subject")
					for _, word := range append(slices.Clone(s.words), encoded) {
						if strings.Contains(visible, word) {
							t.Errorf("%s %v copy %d: the outer header shows %q of the subject %q:\n%s", schemeName(scheme), mode, i, word, s.subject, visible)
						}
					}
					if !strings.Contains(visible, "\r\nSubject: [...]\r\n") {
						t.Errorf("%s %v copy %d: the outer header has no Subject \"[...]\":\n%s", schemeName(scheme), mode, i, visible)
					}
				}
			}
		}
	}
}

// withoutField returns the raw header without the field name and its
// continuation lines.
func withoutField(header, name string) string {
	var remaining []string
	skipping := false
	for _, line := range strings.Split(header, "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if !skipping {
				remaining = append(remaining, line)
			}
			continue
		}
		skipping = strings.HasPrefix(strings.ToLower(line), strings.ToLower(name)+":")
		if !skipping {
			remaining = append(remaining, line)
		}
	}
	return strings.Join(remaining, "\r\n")
}

// TestNoHeaderProtectionBodyAlone checks that NoHeaderProtection protects
// the body alone, with the real Subject outside and no header copy inside.
func TestNoHeaderProtectionBodyAlone(t *testing.T) {
	p := newProtectedPeople(t)
	for _, scheme := range []Scheme{PGP, SMIME} {
		for _, mode := range allModes {
			t.Run(schemeName(scheme)+"/"+mode.String(), func(t *testing.T) {
				m := protectedMessage()
				m.Cc, m.Bcc = nil, nil
				opts := p.options(scheme, mode)
				opts.NoHeaderProtection = true
				c, err := New(context.Background(), m, opts)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				raw := writeCopies(t, c)[0]
				outer := headerFieldsOf(t, raw)
				if got := decodeSubject(t, fieldValue(t, outer, "Subject")); got != protectedSubject {
					t.Errorf("outer Subject = %q, want %q", got, protectedSubject)
				}

				inner := headerFieldsOf(t, p.open(t, scheme, mode, raw, "bob@example.org"))
				mediaType, params := contentTypeOf(t, inner)
				if mediaType != "text/plain" || params["hp"] != "" || params["protected-headers"] != "" {
					t.Errorf("protected entity is %s with %v, want the text/plain body without hp or protected-headers", mediaType, params)
				}
				for _, name := range []string{"From", "To", "Subject", "Date", "Message-ID", "HP-Outer"} {
					if values := fieldValues(inner, name); len(values) != 0 {
						t.Errorf("protected entity has %s %q, want none", name, values)
					}
				}
			})
		}
	}
}

// TestNoHeaderProtectionKeepsGossip checks that without header protection a
// To/Cc copy still carries the gossip, but no header copy and no hp
// parameter.
func TestNoHeaderProtectionKeepsGossip(t *testing.T) {
	p := newProtectedPeople(t)
	m := protectedMessage()
	m.Bcc = nil
	opts := p.options(PGP, SignAndEncrypt)
	opts.NoHeaderProtection = true
	c, err := New(context.Background(), m, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]
	if got := decodeSubject(t, fieldValue(t, headerFieldsOf(t, raw), "Subject")); got != protectedSubject {
		t.Errorf("outer Subject = %q, want %q", got, protectedSubject)
	}
	inner := headerFieldsOf(t, p.open(t, PGP, SignAndEncrypt, raw, "bob@example.org"))
	if _, params := contentTypeOf(t, inner); params["hp"] != "" || params["protected-headers"] != "" {
		t.Errorf("protected entity has hp=%q protected-headers=%q, want neither", params["hp"], params["protected-headers"])
	}
	if copied := innerHeaderCopy(inner); len(copied) != 0 {
		t.Errorf("protected entity copies header fields %q, want none", copied)
	}
	if got := len(fieldValues(inner, "Autocrypt-Gossip")); got != 2 {
		t.Errorf("got %d Autocrypt-Gossip fields, want 2", got)
	}
}

// autocryptAttributes splits the value of an Autocrypt or Autocrypt-Gossip
// field into its attributes in order, with the white space of the folded
// keydata removed.
func autocryptAttributes(t *testing.T, value string) [][2]string {
	t.Helper()
	var attributes [][2]string
	for _, attribute := range strings.Split(value, ";") {
		name, v, ok := strings.Cut(strings.TrimSpace(attribute), "=")
		if !ok {
			t.Fatalf("Autocrypt attribute %q has no value in %q", attribute, value)
		}
		attributes = append(attributes, [2]string{name, strings.Join(strings.Fields(v), "")})
	}
	return attributes
}

// keydataPackets decodes keydata and returns its packets.
func keydataPackets(t *testing.T, keydata string) (*openpgp.Entity, []packet.Packet) {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(keydata)
	if err != nil {
		t.Fatalf("keydata is not base64: %v", err)
	}
	return readMinimalKey(t, data)
}

// readMinimalKey parses the binary key data with go-crypto and returns its
// only entity and its packets.
func readMinimalKey(t *testing.T, data []byte) (*openpgp.Entity, []packet.Packet) {
	t.Helper()
	keys, err := openpgp.ReadKeyRing(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("go-crypto cannot read the key: %v", err)
	}
	if len(keys) != 1 {
		t.Fatalf("the key data contains %d keys, want 1", len(keys))
	}
	var packets []packet.Packet
	r := bytes.NewReader(data)
	for {
		pkt, err := packet.Read(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("failed to read a packet of the key: %v", err)
		}
		packets = append(packets, pkt)
	}
	return keys[0], packets
}

// checkMinimalKey checks that key is the minimal key of full for address:
// its primary key, exactly one user ID with address, and exactly one
// subkey, the encryption subkey that full encrypts to, with no secret key
// material and nothing else.
func checkMinimalKey(t *testing.T, key *openpgp.Entity, packets []packet.Packet, full *openpgp.Entity, address string) {
	t.Helper()
	if !bytes.Equal(key.PrimaryKey.Fingerprint, full.PrimaryKey.Fingerprint) {
		t.Errorf("key fingerprint %X, want %X", key.PrimaryKey.Fingerprint, full.PrimaryKey.Fingerprint)
	}
	if len(key.Identities) != 1 {
		t.Errorf("key has %d user IDs, want 1", len(key.Identities))
	}
	for _, identity := range key.Identities {
		if identity.UserId.Email != address {
			t.Errorf("key has the user ID %q, want one for %s", identity.Name, address)
		}
	}
	wantSubkey := encryptionKeyID(t, full)
	if len(key.Subkeys) != 1 || key.Subkeys[0].PublicKey.KeyId != wantSubkey {
		t.Errorf("key has %d subkeys, want only the encryption subkey %X", len(key.Subkeys), wantSubkey)
	}
	if encryption, ok := key.EncryptionKey(time.Now(), nil); !ok || encryption.PublicKey.KeyId != wantSubkey {
		t.Errorf("go-crypto finds no encryption key %X in the key", wantSubkey)
	}

	counts := map[string]int{}
	for _, pkt := range packets {
		switch p := pkt.(type) {
		case *packet.PublicKey:
			if p.IsSubkey {
				counts["subkey"]++
			} else {
				counts["primary"]++
			}
		case *packet.UserId:
			counts["user ID"]++
		case *packet.Signature:
			counts["signature"]++
		default:
			counts["other"]++
			t.Errorf("key contains a %T packet", pkt)
		}
	}
	want := map[string]int{"primary": 1, "user ID": 1, "subkey": 1, "signature": 2}
	for kind, n := range want {
		if counts[kind] != n {
			t.Errorf("key contains %d %s packets, want %d (all: %v)", counts[kind], kind, n, counts)
		}
	}
}

// newRichKey returns a key whose primary user ID is not for address. It has
// a second user ID for address, an older and a newer encryption subkey and
// a signing subkey, so that a minimal key must leave most of it out.
func newRichKey(t *testing.T, address string) *openpgp.Entity {
	t.Helper()
	at := func(ago time.Duration) *packet.Config {
		created := time.Now().Add(-ago)
		return &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, Time: func() time.Time { return created }}
	}
	e, err := openpgp.NewEntity("Alice", "home", "alice@home.example", at(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddUserId("Alice", "work", address, at(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddSigningSubkey(at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddEncryptionSubkey(at(30 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAutocryptField checks the Autocrypt field of every copy. Its addr is
// the From address and keydata comes last. It is folded into lines of at
// most 78 characters, 10 KiB in all, and carries the sender's minimal key.
func TestAutocryptField(t *testing.T) {
	p := newPeople(t, "bob", "carol", "dave")
	alice := newRichKey(t, "alice@work.example")
	p.keys["alice@work.example"] = alice

	for _, preferEncrypt := range []bool{false, true} {
		m := protectedMessage()
		m.From = addr("Alice <alice@work.example>")
		opts := Options{Signer: alice, Keys: p.keys, Autocrypt: AutocryptOptions{PreferEncrypt: preferEncrypt}}
		c, err := New(context.Background(), m, opts)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		for i, raw := range writeCopies(t, c) {
			values := fieldValues(headerFieldsOf(t, raw), "Autocrypt")
			if len(values) != 1 {
				t.Fatalf("copy %d has %d Autocrypt fields, want 1", i, len(values))
			}
			attributes := autocryptAttributes(t, values[0])
			var names []string
			for _, a := range attributes {
				names = append(names, a[0])
			}
			wantNames := []string{"addr", "keydata"}
			if preferEncrypt {
				wantNames = []string{"addr", "prefer-encrypt", "keydata"}
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("copy %d: Autocrypt attributes are %q, want %q", i, names, wantNames)
			}
			if attributes[0][1] != "alice@work.example" {
				t.Errorf("copy %d: addr = %q, want the From address alice@work.example", i, attributes[0][1])
			}
			if preferEncrypt && attributes[1][1] != "mutual" {
				t.Errorf("copy %d: prefer-encrypt = %q, want mutual", i, attributes[1][1])
			}
			key, packets := keydataPackets(t, attributes[len(attributes)-1][1])
			checkMinimalKey(t, key, packets, alice, "alice@work.example")
			checkAutocryptFolding(t, raw, "Autocrypt")
		}
	}
}

// checkAutocryptFolding checks the raw lines of the field name in the
// outer header of raw: at most 78 characters each, continuation lines that
// start with a space, and at most 10 KiB in all.
func checkAutocryptFolding(t *testing.T, raw []byte, name string) {
	t.Helper()
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := strings.Split(string(header), "\r\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, name+": ") })
	if start < 0 {
		t.Fatalf("no %s field in the header", name)
	}
	size := len(lines[start]) + 2
	for i := start; i < len(lines); i++ {
		line := lines[i]
		if i > start {
			if line == "" || (line[0] != ' ' && line[0] != '\t') {
				break
			}
			size += len(line) + 2
		}
		if len(line) > 78 {
			t.Errorf("%s line %d has %d characters, more than 78: %q", name, i-start+1, len(line), line)
		}
	}
	if size > 10<<10 {
		t.Errorf("%s field has %d bytes, more than 10 KiB", name, size)
	}
}

// TestAutocryptFieldPresence checks which messages carry an Autocrypt
// field: OpenPGP ones whose sender key is known, unless turned off, and
// no S/MIME message.
func TestAutocryptFieldPresence(t *testing.T) {
	p := newProtectedPeople(t)
	signingOnly := newKey(t, "alice", "alice@example.org")
	signingOnly.Subkeys = nil
	// A key whose only user ID names another identity of the sender must
	// not show it in the clear.
	otherIdentity := newKey(t, "Frank Hidden", "frank@private.example")

	tests := []struct {
		name   string
		scheme Scheme
		mode   Mode
		edit   func(*Options)
		want   bool
	}{
		{"key without user ID for From", PGP, SignOnly, func(o *Options) { o.Signer = otherIdentity }, false},
		{"sign+encrypt", PGP, SignAndEncrypt, nil, true},
		{"sign", PGP, SignOnly, nil, true},
		{"encrypt to self", PGP, EncryptOnly, nil, true},
		{"encrypt without self", PGP, EncryptOnly, func(o *Options) { o.NoEncryptToSelf = true }, false},
		{"off", PGP, SignAndEncrypt, func(o *Options) { o.Autocrypt.Off = true }, false},
		{"off and prefer-encrypt", PGP, SignOnly, func(o *Options) { o.Autocrypt = AutocryptOptions{Off: true, PreferEncrypt: true} }, false},
		{"signing-only key", PGP, SignOnly, func(o *Options) { o.Signer = signingOnly }, false},
		{"smime sign+encrypt", SMIME, SignAndEncrypt, nil, false},
		{"smime sign", SMIME, SignOnly, nil, false},
		{"smime encrypt", SMIME, EncryptOnly, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := p.options(tt.scheme, tt.mode)
			if tt.edit != nil {
				tt.edit(&opts)
			}
			c, err := New(context.Background(), protectedMessage(), opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for i, raw := range writeCopies(t, c) {
				values := fieldValues(headerFieldsOf(t, raw), "Autocrypt")
				if tt.want && len(values) != 1 {
					t.Errorf("copy %d has %d Autocrypt fields, want 1", i, len(values))
				}
				if !tt.want && len(values) != 0 {
					t.Errorf("copy %d has an Autocrypt field, want none: %q", i, values)
				}
				if tt.want {
					attributes := autocryptAttributes(t, values[0])
					key, packets := keydataPackets(t, attributes[len(attributes)-1][1])
					checkMinimalKey(t, key, packets, p.pgp.keys["alice@example.org"], "alice@example.org")
				}
			}
		})
	}
}

// gossipOf returns the addresses of the Autocrypt-Gossip fields of a
// protected entity's header. It checks that each field carries the minimal
// key of the key that keys contains for the address.
func gossipOf(t *testing.T, inner []Field, keys testKeys) []string {
	t.Helper()
	var addresses []string
	for _, value := range fieldValues(inner, "Autocrypt-Gossip") {
		attributes := autocryptAttributes(t, value)
		if len(attributes) != 2 || attributes[0][0] != "addr" || attributes[1][0] != "keydata" {
			t.Errorf("Autocrypt-Gossip attributes are %q, want addr and keydata", attributes)
			continue
		}
		address := attributes[0][1]
		full, ok := keys[address]
		if !ok {
			t.Errorf("Autocrypt-Gossip for %s, who has no key", address)
			continue
		}
		key, packets := keydataPackets(t, attributes[1][1])
		checkMinimalKey(t, key, packets, full, address)
		addresses = append(addresses, address)
	}
	return addresses
}

// TestAutocryptGossip checks which copies gossip which keys: the To/Cc copy
// those of all its recipients when there are two or more, and a Bcc copy
// none, also when the envelope recipients are given apart from the header.
func TestAutocryptGossip(t *testing.T) {
	p := newProtectedPeople(t)
	keys := p.pgp.keys
	tests := []struct {
		name string
		edit func(*Message)
		mode Mode
		// want lists the gossiped addresses of each copy, in the order of
		// Copies.
		want [][]string
	}{
		{"to cc and bcc", nil, SignAndEncrypt, [][]string{{"bob@example.org", "carol@example.org"}, nil}},
		{"encrypt only", nil, EncryptOnly, [][]string{{"bob@example.org", "carol@example.org"}, nil}},
		{"two to", func(m *Message) { m.To, m.Cc, m.Bcc = addrs("bob@example.org", "carol@example.org"), nil, nil }, SignAndEncrypt,
			[][]string{{"bob@example.org", "carol@example.org"}}},
		{"single recipient", func(m *Message) { m.Cc, m.Bcc = nil, nil }, SignAndEncrypt, [][]string{nil}},
		{"single recipient with bcc", func(m *Message) { m.Cc = nil }, SignAndEncrypt, [][]string{nil, nil}},
		{"recipients", func(m *Message) {
			m.Bcc, m.Recipients = nil, []string{"bob@example.org", "carol@example.org", "dave@example.org"}
		}, SignAndEncrypt, [][]string{{"bob@example.org", "carol@example.org"}, nil}},
		{"recipients without cc", func(m *Message) {
			m.Bcc, m.Recipients = nil, []string{"bob@example.org", "dave@example.org"}
		}, SignAndEncrypt, [][]string{nil, nil}},
		{"sign only", func(m *Message) { m.Bcc = nil }, SignOnly, [][]string{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := protectedMessage()
			if tt.edit != nil {
				tt.edit(m)
			}
			c, err := New(context.Background(), m, p.options(PGP, tt.mode))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			raws := writeCopies(t, c)
			if len(raws) != len(tt.want) {
				t.Fatalf("got %d copies, want %d", len(raws), len(tt.want))
			}
			for i, raw := range raws {
				if values := fieldValues(headerFieldsOf(t, raw), "Autocrypt-Gossip"); len(values) != 0 {
					t.Errorf("copy %d has Autocrypt-Gossip in its outer header", i)
				}
				inner := headerFieldsOf(t, p.open(t, PGP, tt.mode, raw, copyReader(c, i)))
				got := gossipOf(t, inner, keys)
				if !slices.Equal(slices.Sorted(slices.Values(got)), tt.want[i]) {
					t.Errorf("copy %d (Bcc %q) gossips %q, want %q", i, c.Copies()[i].Bcc, got, tt.want[i])
				}
			}
		})
	}
}

// TestGossipSkipsOtherIdentity checks that a recipient key without a user
// ID for the recipient's address is not gossiped, because its user IDs
// would go to every other recipient.
func TestGossipSkipsOtherIdentity(t *testing.T) {
	p := newProtectedPeople(t)
	keys := testKeys{}
	for address, key := range p.pgp.keys {
		keys[address] = key
	}
	keys["bob@example.org"] = newKey(t, "Grace Private", "grace@private.example")
	opts := p.options(PGP, SignAndEncrypt)
	opts.Keys = keys
	m := protectedMessage()
	m.Bcc = nil
	c, err := New(context.Background(), m, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]
	inner := headerFieldsOf(t, p.open(t, PGP, SignAndEncrypt, raw, "carol@example.org"))
	if got := gossipOf(t, inner, keys); !slices.Equal(got, []string{"carol@example.org"}) {
		t.Errorf("the copy gossips %q, want only carol@example.org", got)
	}
	if strings.Contains(string(raw), "grace") {
		t.Error("the raw copy names grace")
	}
}

// TestProtectedOuterDropsTopicFields checks that an encrypted copy keeps
// Keywords, Comments and Thread-Topic, which may repeat the subject, only
// inside, with no HP-Outer for them, and that a signed-only copy keeps them
// outside too.
func TestProtectedOuterDropsTopicFields(t *testing.T) {
	p := newProtectedPeople(t)
	topics := []Field{{"Keywords", "merger"}, {"Comments", "about the merger"}, {"Thread-Topic", "merger"}}
	for _, mode := range []Mode{SignAndEncrypt, EncryptOnly, SignOnly} {
		t.Run(mode.String(), func(t *testing.T) {
			m := protectedMessage()
			m.Bcc = nil
			m.Header = append(m.Header, topics...)
			c, err := New(context.Background(), m, p.options(PGP, mode))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			raw := writeCopies(t, c)[0]
			outer := headerFieldsOf(t, raw)
			inner := headerFieldsOf(t, p.open(t, PGP, mode, raw, "bob@example.org"))
			for _, f := range topics {
				if got := fieldValues(inner, f.Name); !slices.Equal(got, []string{f.Value}) {
					t.Errorf("inside, %s = %q, want %q", f.Name, got, f.Value)
				}
				got := fieldValues(outer, f.Name)
				switch {
				case mode.encrypts() && len(got) != 0:
					t.Errorf("the outer header of an encrypted copy has %s %q", f.Name, got)
				case !mode.encrypts() && !slices.Equal(got, []string{f.Value}):
					t.Errorf("the outer header of a signed copy has %s %q, want %q", f.Name, got, f.Value)
				}
				for _, hpOuter := range fieldValues(inner, "HP-Outer") {
					if strings.HasPrefix(hpOuter, f.Name+":") {
						t.Errorf("HP-Outer records %q, which the outer header lacks", hpOuter)
					}
				}
			}
		})
	}
}

// TestAutocryptGossipSMIME checks that an S/MIME copy gossips nothing.
func TestAutocryptGossipSMIME(t *testing.T) {
	p := newProtectedPeople(t)
	m := protectedMessage()
	m.Bcc = nil
	c, err := New(context.Background(), m, p.options(SMIME, SignAndEncrypt))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]
	inner := headerFieldsOf(t, p.open(t, SMIME, SignAndEncrypt, raw, "bob@example.org"))
	if values := fieldValues(inner, "Autocrypt-Gossip"); len(values) != 0 {
		t.Errorf("S/MIME copy gossips %d keys, want none", len(values))
	}
}

// payloadParts returns the parts of the multipart/mixed protected entity.
func payloadParts(t *testing.T, entity []byte) []part {
	t.Helper()
	return readParts(t, readEntity(t, entity), "multipart/mixed")
}

// TestAttachKeyPGP checks the application/pgp-keys part that AttachKey adds
// in every mode, with and without header protection.
func TestAttachKeyPGP(t *testing.T) {
	p := newProtectedPeople(t)
	alice := p.pgp.keys["alice@example.org"]
	wantName := "OpenPGP_0x" + alice.PrimaryKey.KeyIdString() + ".asc"
	for _, noProtection := range []bool{false, true} {
		for _, mode := range allModes {
			opts := p.options(PGP, mode)
			opts.AttachKey, opts.NoHeaderProtection = true, noProtection
			c, err := New(context.Background(), protectedMessage(), opts)
			if err != nil {
				t.Fatalf("%v: New: %v", mode, err)
			}
			for i, raw := range writeCopies(t, c) {
				entity := p.open(t, PGP, mode, raw, copyReader(c, i))
				parts := payloadParts(t, entity)
				if len(parts) != 2 {
					t.Fatalf("%v copy %d: payload has %d parts, want the body and the key", mode, i, len(parts))
				}
				if parts[0].mediaType != "text/plain" {
					t.Errorf("%v copy %d: first part is %s, want the text/plain body", mode, i, parts[0].mediaType)
				}
				keyPart := parts[1]
				if keyPart.mediaType != "application/pgp-keys" || keyPart.filename != wantName {
					t.Errorf("%v copy %d: key part is %s named %q, want application/pgp-keys named %q", mode, i, keyPart.mediaType, keyPart.filename, wantName)
				}
				block, err := armor.Decode(strings.NewReader(keyPart.body))
				if err != nil || block.Type != "PGP PUBLIC KEY BLOCK" {
					t.Fatalf("%v copy %d: key part is no armored public key (%v):\n%s", mode, i, err, keyPart.body)
				}
				data, err := io.ReadAll(block.Body)
				if err != nil {
					t.Fatal(err)
				}
				key, packets := readMinimalKey(t, data)
				checkMinimalKey(t, key, packets, alice, "alice@example.org")
			}
		}
	}
}

// newSMIMEChain returns a signer for alice@example.org whose certificate a
// root issued through an intermediate, with the chain [intermediate, root].
func newSMIMEChain(t *testing.T) (signer *smime.Signer, root *x509.Certificate) {
	t.Helper()
	newRSA := func() *rsa.PrivateKey {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	issue := func(template, parent *x509.Certificate, public any, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, template, parent, public, signer)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	now := time.Now()
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
	}

	rootKey, intermediateKey, leafKey := newRSA(), newRSA(), newRSA()
	root = issue(ca(1, "Test Root"), ca(1, "Test Root"), rootKey.Public(), rootKey)
	intermediate := issue(ca(2, "Test Intermediate"), root, intermediateKey.Public(), rootKey)
	leaf := issue(&x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "Alice"},
		EmailAddresses: []string{"alice@example.org"},
		NotBefore:      now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}, intermediate, leafKey.Public(), intermediateKey)
	return &smime.Signer{Certificate: leaf, Chain: []*x509.Certificate{intermediate, root}, Key: leafKey}, root
}

// certsOnlyCertificates checks that a payload part is the certs-only
// smime.p7c part and returns its certificates.
func certsOnlyCertificates(t *testing.T, entity []byte) []*x509.Certificate {
	t.Helper()
	e := readEntity(t, entity)
	parts := readParts(t, e, "multipart/mixed")
	if len(parts) != 2 {
		t.Fatalf("payload has %d parts, want the body and the certificates", len(parts))
	}
	if parts[1].mediaType != "application/pkcs7-mime" || parts[1].filename != "smime.p7c" {
		t.Errorf("certificate part is %s named %q, want application/pkcs7-mime named smime.p7c", parts[1].mediaType, parts[1].filename)
	}
	if !bytes.Contains(entity, []byte("smime-type=certs-only")) {
		t.Errorf("certificate part has no smime-type=certs-only:\n%s", entity)
	}
	p7, err := pkcs7.Parse([]byte(parts[1].body))
	if err != nil {
		t.Fatalf("certificate part does not parse as PKCS #7: %v", err)
	}
	return p7.Certificates
}

// TestAttachKeySMIME checks the certs-only part that AttachKey adds: the
// signer's certificate and chain without the root when signing, and the
// certificate of encryption to self when only encrypting.
func TestAttachKeySMIME(t *testing.T) {
	alice, root := newSMIMEChain(t)
	bob, _, _ := newSMIMEIdentity(t, t.TempDir(), "bob@example.org")
	certs := testCertificates{"alice@example.org": alice.Certificate, "bob@example.org": bob.Certificate}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	roots.AddCert(bob.Certificate)

	m := protectedMessage()
	m.Cc, m.Bcc = nil, nil
	for _, mode := range allModes {
		c, err := New(context.Background(), m, Options{Mode: mode, Scheme: SMIME, SMIMESigner: alice, Certificates: certs, AttachKey: true})
		if err != nil {
			t.Fatalf("%v: New: %v", mode, err)
		}
		raw := writeCopies(t, c)[0]
		opened, err := smime.Open(bytes.NewReader(raw), bob.Certificate, bob.Key, roots, nil)
		if err != nil {
			t.Fatalf("%v: smime.Open: %v", mode, err)
		}
		if mode.signs() && opened.SignatureErr != nil {
			t.Errorf("%v: signature does not verify: %v", mode, opened.SignatureErr)
		}
		got := certsOnlyCertificates(t, opened.Entity)

		want := []*x509.Certificate{alice.Certificate, alice.Chain[0]}
		if mode == EncryptOnly {
			want = []*x509.Certificate{alice.Certificate}
		}
		if len(got) != len(want) {
			t.Errorf("%v: certs-only part has %d certificates, want %d", mode, len(got), len(want))
		}
		for _, w := range want {
			if !slices.ContainsFunc(got, w.Equal) {
				t.Errorf("%v: certs-only part lacks %q", mode, w.Subject.CommonName)
			}
		}
		if slices.ContainsFunc(got, root.Equal) {
			t.Errorf("%v: certs-only part contains the root", mode)
		}
	}
}

// TestAttachKeyNeedsSenderKey checks that AttachKey without a sender key or
// certificate, or with a key that cannot encrypt, is an error from New.
func TestAttachKeyNeedsSenderKey(t *testing.T) {
	p := newProtectedPeople(t)
	signingOnly := newKey(t, "alice", "alice@example.org")
	signingOnly.Subkeys = nil

	tests := []struct {
		name   string
		scheme Scheme
		mode   Mode
		edit   func(*Options)
		want   string
	}{
		{"pgp encrypt without self", PGP, EncryptOnly, func(o *Options) { o.NoEncryptToSelf = true }, "no sender key to attach"},
		{"pgp signing-only key", PGP, SignOnly, func(o *Options) { o.Signer = signingOnly }, "not usable for encryption"},
		{"pgp key without user ID for From", PGP, SignOnly, func(o *Options) { o.Signer = newKey(t, "Frank", "frank@private.example") },
			`no valid user ID for "alice@example.org"`},
		{"smime encrypt without self", SMIME, EncryptOnly, func(o *Options) { o.NoEncryptToSelf = true }, "no sender certificate to attach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := p.options(tt.scheme, tt.mode)
			opts.AttachKey = true
			tt.edit(&opts)
			_, err := New(context.Background(), protectedMessage(), opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}

			// The same options without AttachKey compose.
			opts.AttachKey = false
			if _, err := New(context.Background(), protectedMessage(), opts); err != nil {
				t.Errorf("without AttachKey: New: %v", err)
			}
		})
	}
}

// TestSignedFieldsTrailingWhiteSpace checks that a subject or extra field
// that ends in white space still signs: the copy inside the signed part
// must not end a line in white space, so both copies drop it.
func TestSignedFieldsTrailingWhiteSpace(t *testing.T) {
	p := newProtectedPeople(t)
	for _, scheme := range []Scheme{PGP, SMIME} {
		for _, mode := range []Mode{SignOnly, SignAndEncrypt} {
			t.Run(schemeName(scheme)+"/"+mode.String(), func(t *testing.T) {
				m := protectedMessage()
				m.Bcc = nil
				m.Subject = "Offer \t "
				m.Header = append(m.Header, Field{"X-Note", "draft "})
				c, err := New(context.Background(), m, p.options(scheme, mode))
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				raw := writeCopies(t, c)[0]
				inner := headerFieldsOf(t, p.open(t, scheme, mode, raw, "bob@example.org"))
				if got := fieldValue(t, inner, "Subject"); got != "Offer" {
					t.Errorf("inner Subject = %q, want %q", got, "Offer")
				}
				if got := fieldValue(t, inner, "X-Note"); got != "draft" {
					t.Errorf("inner X-Note = %q, want %q", got, "draft")
				}
				if mode == SignOnly {
					if got := fieldValue(t, headerFieldsOf(t, raw), "Subject"); got != "Offer" {
						t.Errorf("outer Subject = %q, want %q", got, "Offer")
					}
				}
			})
		}
	}
}

// TestAutocryptInternationalDomain checks that a user ID with an
// internationalized domain matches the From address, which goes out with
// the domain in ASCII.
func TestAutocryptInternationalDomain(t *testing.T) {
	joerg := newKey(t, "Jörg", "joerg@bücher.example")
	m := &Message{From: addr("joerg@bücher.example"), To: addrs("bob@example.org"), Subject: "Hallo", Text: []byte("Hallo\n")}
	c, err := New(context.Background(), m, Options{Mode: SignOnly, Signer: joerg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	values := fieldValues(headerFieldsOf(t, writeCopies(t, c)[0]), "Autocrypt")
	if len(values) != 1 {
		t.Fatalf("the copy has %d Autocrypt fields, want 1", len(values))
	}
	if attributes := autocryptAttributes(t, values[0]); attributes[0] != [2]string{"addr", "joerg@xn--bcher-kva.example"} {
		t.Errorf("Autocrypt attributes start with %q, want addr=joerg@xn--bcher-kva.example", attributes[0])
	}
}

// TestAutocryptFieldTooLarge checks that a key whose field would exceed 10
// KiB, here through a user ID of 9,000 characters, gets no Autocrypt or
// Autocrypt-Gossip field, and that the message still goes out.
func TestAutocryptFieldTooLarge(t *testing.T) {
	p := newProtectedPeople(t)
	keys := testKeys{}
	for address, key := range p.pgp.keys {
		keys[address] = key
	}
	bigAlice := newKey(t, strings.Repeat("A", 9000), "alice@example.org")
	keys["alice@example.org"] = bigAlice
	keys["bob@example.org"] = newKey(t, strings.Repeat("B", 9000), "bob@example.org")
	m := protectedMessage()
	m.Bcc = nil
	c, err := New(context.Background(), m, Options{Signer: bigAlice, Keys: keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw := writeCopies(t, c)[0]
	if values := fieldValues(headerFieldsOf(t, raw), "Autocrypt"); len(values) != 0 {
		t.Errorf("the copy has an Autocrypt field of %d bytes, want none", len(values[0]))
	}
	opened, err := pgpmime.Open(bytes.NewReader(raw), openpgp.EntityList{bigAlice, p.pgp.keys["carol@example.org"]}, nil)
	if err != nil {
		t.Fatalf("pgpmime.Open: %v", err)
	}
	inner := headerFieldsOf(t, opened.Entity)
	if got := gossipOf(t, inner, keys); !slices.Equal(got, []string{"carol@example.org"}) {
		t.Errorf("the copy gossips %q, want only carol@example.org", got)
	}
}
