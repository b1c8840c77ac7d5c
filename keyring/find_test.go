package keyring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// spaced returns fpr in uppercase with "0x" and a space every 4 digits, as
// GnuPG prints fingerprints.
func spaced(fpr string) string {
	var b strings.Builder
	b.WriteString("0x")
	for i := 0; i < len(fpr); i += 4 {
		b.WriteString(" ")
		b.WriteString(strings.ToUpper(fpr[i : i+4]))
	}
	return b.String()
}

func TestFindQueries(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	alice := generate(t, "Alice", "alice@bücher.example", GenerateOptions{})
	expired := generate(t, "Alice", "alice@bücher.example", GenerateOptions{Now: now.Add(-time.Hour), Lifetime: time.Minute})
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	importBytes(t, k, append(append(publicBytes(t, alice), publicBytes(t, expired)...), publicBytes(t, bob)...))
	aliceFpr := fingerprint(alice)
	subkeyFpr := hexFingerprint(alice.Subkeys[0].PublicKey.Fingerprint)

	tests := []struct {
		query string
		want  []string
	}{
		{"ALICE@XN--BCHER-KVA.example", []string{aliceFpr, fingerprint(expired)}},
		{"<alice@bücher.example>", []string{aliceFpr, fingerprint(expired)}},
		{aliceFpr, []string{aliceFpr}},
		{spaced(aliceFpr), []string{aliceFpr}},
		{strings.ToUpper(subkeyFpr), []string{aliceFpr}},
		{"0x" + strings.ToUpper(aliceFpr[24:]), []string{aliceFpr}},
		{subkeyFpr[24:], []string{aliceFpr}},
	}
	for _, tt := range tests {
		entries, err := k.Find(context.Background(), tt.query, now)
		if err != nil {
			t.Errorf("Find(%q): %v", tt.query, err)
			continue
		}
		var got []string
		for _, entry := range entries {
			got = append(got, entry.Fingerprint)
		}
		// Keys with the same primary address come in fingerprint order.
		if want := slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
			t.Errorf("Find(%q) = %v, want %v", tt.query, got, want)
		}
	}

	entries, err := k.Find(context.Background(), fingerprint(expired), now)
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Status != StatusExpired {
		t.Errorf("status of the expired key = %q, want expired", entries[0].Status)
	}

	_, err = k.Find(context.Background(), "carol@example.org", now)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Find of a missing address = %v, want ErrNotFound", err)
	}
	_, err = k.Find(context.Background(), strings.Repeat("ab", 20), now)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Find of a missing fingerprint = %v, want ErrNotFound", err)
	}
	for _, query := range []string{"alice", "0x1234", aliceFpr[:30], ""} {
		_, err := k.Find(context.Background(), query, now)
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q) = %v, want an invalid query error", query, err)
		}
	}
}

func TestFindUnreadableFile(t *testing.T) {
	k := openTemp(t)
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, bob))
	path := k.certPath(fingerprint(bob))
	corruptFile(t, path)

	entries, err := k.Find(context.Background(), spaced(fingerprint(bob)), time.Now())
	if err != nil {
		t.Fatalf("Find by fingerprint: %v", err)
	}
	if len(entries) != 1 || entries[0].Status != StatusUnreadable || entries[0].Path != path {
		t.Errorf("Find = %+v, want the unreadable file", entries)
	}
	if _, err := k.Find(context.Background(), fingerprint(bob)[24:], time.Now()); err != nil {
		t.Errorf("Find by key ID: %v", err)
	}

	_, err = k.Find(context.Background(), "bob@example.org", time.Now())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) {
		t.Errorf("Find by address = %v, want ErrNotFound naming %q", err, path)
	}
	if _, err := k.Export(context.Background(), fingerprint(bob)); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Export of the unreadable key = %v, want an error naming %q", err, path)
	}
}

// packetsOf returns the packets of data, failing the test on a parse error.
func packetsOf(t *testing.T, data []byte) []packet.Packet {
	t.Helper()
	var packets []packet.Packet
	r := packet.NewReader(bytes.NewReader(data))
	for {
		p, err := r.Next()
		if err == io.EOF {
			return packets
		}
		if err != nil {
			t.Fatalf("exported data does not parse: %v", err)
		}
		packets = append(packets, p)
	}
}

func TestExportPublicOnly(t *testing.T) {
	k := openTemp(t)
	own := generate(t, "Own", "own@example.org", GenerateOptions{})
	fpr := fingerprint(own)
	importBytes(t, k, secretBytes(t, own))
	// Another cert-d writer could put a secret key in the certificate
	// directory; Export must still return a certificate.
	if err := os.WriteFile(k.certPath(fpr), secretBytes(t, own), 0o600); err != nil {
		t.Fatal(err)
	}

	data, err := k.Export(context.Background(), spaced(fpr))
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	packets := packetsOf(t, data)
	if len(packets) == 0 {
		t.Fatal("Export returned no packets")
	}
	for _, p := range packets {
		if _, ok := p.(*packet.PrivateKey); ok {
			t.Error("the export contains a secret key packet")
		}
	}
	primary, ok := packets[0].(*packet.PublicKey)
	if !ok || hexFingerprint(primary.Fingerprint) != fpr {
		t.Errorf("the export starts with %T, want the public key %s", packets[0], fpr)
	}
	parsed, err := parseStored(data, fpr)
	if err != nil {
		t.Fatalf("the export does not read back: %v", err)
	}
	if len(parsed.Subkeys) != 1 || len(parsed.Identities) != 1 {
		t.Errorf("the export has %d subkeys and %d user IDs, want 1 and 1", len(parsed.Subkeys), len(parsed.Identities))
	}

	if _, err := k.Export(context.Background(), strings.Repeat("ab", 20)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Export of a missing key = %v, want ErrNotFound", err)
	}
	if _, err := k.Export(context.Background(), "own@example.org"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Export by address = %v, want an invalid fingerprint error", err)
	}
}

func TestRemove(t *testing.T) {
	k := openTemp(t)
	own := generate(t, "Own", "own@example.org", GenerateOptions{})
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	importBytes(t, k, append(secretBytes(t, own), publicBytes(t, bob)...))
	ctx := context.Background()

	for _, query := range []string{"own@example.org", fingerprint(own)[24:], fingerprint(own)[:39]} {
		_, err := k.Remove(ctx, query)
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Remove(%q) = %v, want an invalid fingerprint error", query, err)
		}
	}
	if entries, _ := k.List(ctx, time.Now()); len(entries) != 2 {
		t.Fatalf("a rejected Remove changed the keyring: %d keys left", len(entries))
	}

	removedSecret, err := k.Remove(ctx, spaced(fingerprint(own)))
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if !removedSecret {
		t.Error("Remove did not report the secret key")
	}
	for _, path := range []string{k.certPath(fingerprint(own)), k.secretPath(fingerprint(own))} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (stat: %v)", path, err)
		}
	}
	if _, err := k.SigningKey(ctx, "own@example.org", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("SigningKey after Remove = %v, want ErrNotFound", err)
	}

	removedSecret, err = k.Remove(ctx, fingerprint(bob))
	if err != nil || removedSecret {
		t.Errorf("Remove of a public key = %v, %v; want false, nil", removedSecret, err)
	}
	_, err = k.Remove(ctx, fingerprint(bob))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	if entries, _ := k.List(ctx, time.Now()); len(entries) != 0 {
		t.Errorf("List after Remove = %+v, want nothing", entries)
	}
}

func TestRemoveUnreadableFile(t *testing.T) {
	k := openTemp(t)
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, bob))
	corruptFile(t, k.certPath(fingerprint(bob)))

	if _, err := k.Remove(context.Background(), fingerprint(bob)); err != nil {
		t.Fatalf("Remove of an unreadable file: %v", err)
	}
	if entries, _ := k.List(context.Background(), time.Now()); len(entries) != 0 {
		t.Errorf("List after Remove = %+v, want nothing", entries)
	}
}
