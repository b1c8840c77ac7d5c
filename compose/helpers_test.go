package compose

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// testKeys is a KeySource backed by a map from lowercase address to key.
type testKeys map[string]*openpgp.Entity

func (k testKeys) EncryptionKey(_ context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	e, ok := k[strings.ToLower(address)]
	if !ok {
		return nil, fmt.Errorf("no key for %s", address)
	}
	return e, nil
}

// newKey generates a v4 EdDSA key with a Curve25519 encryption subkey, the
// kind GnuPG 2.2 reads.
func newKey(t testing.TB, name, address string) *openpgp.Entity {
	t.Helper()
	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	e, err := openpgp.NewEntity(name, "", address, config)
	if err != nil {
		t.Fatalf("failed to generate a key for %s: %v", address, err)
	}
	return e
}

func addr(s string) *mail.Address {
	a, err := mail.ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func addrs(list ...string) []*mail.Address {
	out := make([]*mail.Address, len(list))
	for i, s := range list {
		out[i] = addr(s)
	}
	return out
}

func stringAttachment(name, content string) Attachment {
	return Attachment{
		Filename: name,
		Open:     func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil },
	}
}

// bodyBytes renders the body entity of m after validation.
func bodyBytes(t testing.TB, m *Message) []byte {
	t.Helper()
	n, err := normalize(m)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	var b bytes.Buffer
	if err := writeBody(context.Background(), &b, n); err != nil {
		t.Fatalf("writeBody: %v", err)
	}
	return b.Bytes()
}

// checkLines checks rule 1 of every message: CRLF only, no line over 998
// octets, and 7-bit content.
func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("output does not end in CRLF")
	}
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d contains a lone CR or LF: %q", i+1, line)
		}
		if len(line) > maxLine {
			t.Errorf("line %d has %d octets, more than %d", i+1, len(line), maxLine)
		}
		for _, c := range line {
			if c >= 0x80 || c == 0 {
				t.Errorf("line %d is not 7-bit: %q", i+1, line)
				break
			}
		}
	}
}
