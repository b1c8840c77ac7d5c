package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/keyring"
)

// importSubkeyExpiringKey imports into home a key for rita@example.org whose
// primary key expires in 2 years and whose only encryption subkey expires
// in 5 days, and returns the fingerprints of both in uppercase hex and the
// subkey's expiry date.
func importSubkeyExpiringKey(t *testing.T, home string) (fpr, subkeyFpr, subkeyExpiry string) {
	t.Helper()
	created := time.Now().Truncate(time.Second)
	e, err := keyring.Generate("Rita", "rita@example.org", keyring.GenerateOptions{Now: created, Lifetime: 2 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.Subkeys = nil
	lifetime := 5 * 24 * time.Hour
	err = e.AddEncryptionSubkey(&packet.Config{
		Algorithm:       packet.PubKeyAlgoEdDSA,
		Curve:           packet.Curve25519,
		Time:            func() time.Time { return created },
		KeyLifetimeSecs: uint32(lifetime / time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}

	var public bytes.Buffer
	if err := writeArmored(&public, openpgp.PublicKeyType, e.Serialize); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rita.asc")
	if err := os.WriteFile(file, public.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", file); status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderr)
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), fmt.Sprintf("%X", e.Subkeys[0].PublicKey.Fingerprint),
		created.Add(lifetime).UTC().Format(time.DateOnly)
}

func TestKeyringListSubkeyExpiringSoon(t *testing.T) {
	home := t.TempDir()
	fpr, _, expiry := importSubkeyExpiringKey(t, home)

	for _, args := range [][]string{{"keyring", "list"}, {"keyring", "list", "--status", "expiring"}} {
		status, stdout, stderr := runCLI(t, home, "", args...)
		if status != 0 {
			t.Fatalf("%s: exit status %d: %s", strings.Join(args, " "), status, stderr)
		}
		want := regexp.MustCompile(fpr + ` +valid +ed25519 +encryption subkey expires ` + expiry + ` \(in 5 days\) `)
		if !want.MatchString(stdout) {
			t.Errorf("%s printed:\n%s\nwant a line matching %q", strings.Join(args, " "), stdout, want)
		}
	}

	status, stdout, stderr := runCLI(t, home, "", "keyring", "list", "--json", "--status", "expiring")
	if status != 0 {
		t.Fatalf("keyring list --json: exit status %d: %s", status, stderr)
	}
	var document struct {
		Keys []keyring.Entry `json:"keys"`
	}
	if err := json.Unmarshal([]byte(stdout), &document); err != nil {
		t.Fatalf("keyring list --json printed invalid JSON: %v\n%s", err, stdout)
	}
	if len(document.Keys) != 1 {
		t.Fatalf("keyring list --json listed %d keys, want 1:\n%s", len(document.Keys), stdout)
	}
	got := document.Keys[0].EncryptionSubkeyExpires
	if got == nil || got.UTC().Format(time.DateOnly) != expiry {
		t.Errorf("encryption_subkey_expires = %v, want %s", got, expiry)
	}
}

func TestKeyringShowSubkeys(t *testing.T) {
	home := t.TempDir()
	_, subkeyFpr, expiry := importSubkeyExpiringKey(t, home)

	status, stdout, stderr := runCLI(t, home, "", "keyring", "show", "rita@example.org")
	if status != 0 {
		t.Fatalf("keyring show: exit status %d: %s", status, stderr)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	want := "subkey       " + subkeyFpr + "\n" +
		"  algorithm  cv25519\n" +
		"  usage      encrypt\n" +
		"  created    " + today + "\n" +
		"  expires    " + expiry + "\n" +
		"  status     valid, used for encryption\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("keyring show printed:\n%s\nwant the lines:\n%s", stdout, want)
	}
	for _, line := range []string{"origin       file, ", "confirmed    no\n"} {
		if !strings.Contains(stdout, line) {
			t.Errorf("keyring show printed:\n%s\nwant a line starting %q", stdout, line)
		}
	}
}

func TestListFilterKeepsUnreadableFiles(t *testing.T) {
	now := time.Now()
	entries := []keyring.Entry{
		{Kind: keyring.KindOpenPGP, Fingerprint: "aa", Addresses: []string{"alice@example.org"}, Status: keyring.StatusValid},
		{Kind: keyring.KindOpenPGP, Fingerprint: "bb", Addresses: []string{"bob@example.org"}, Status: keyring.StatusValid, Secret: true},
		// The unreadable certificate file of an unknown key.
		{Kind: keyring.KindOpenPGP, Fingerprint: "cc", Status: keyring.StatusUnreadable, Path: "pgp.cert.d/cc"},
		// The unreadable secret key files of the readable keys aa and bb.
		{Kind: keyring.KindOpenPGP, Fingerprint: "aa", Status: keyring.StatusUnreadable, Secret: true, Path: "secret/aa"},
		{Kind: keyring.KindOpenPGP, Fingerprint: "bb", Status: keyring.StatusUnreadable, Secret: true, Path: "secret/bb"},
		{Kind: keyring.KindX509, Fingerprint: "dd", Status: keyring.StatusUnreadable, Path: "x509/dd"},
	}
	tests := []struct {
		name      string
		filter    listFilter
		wantPaths []string // the path of an unreadable file, the fingerprint of a readable entry
	}{
		{"address of a readable key", listFilter{addresses: []string{"alice@example.org"}},
			[]string{"aa", "pgp.cert.d/cc", "secret/aa", "x509/dd"}},
		{"address of no key", listFilter{addresses: []string{"nobody@example.org"}},
			[]string{"pgp.cert.d/cc", "x509/dd"}},
		{"address and kind", listFilter{addresses: []string{"nobody@example.org"}, kind: keyring.KindOpenPGP},
			[]string{"pgp.cert.d/cc"}},
		{"address and status", listFilter{addresses: []string{"nobody@example.org"}, status: string(keyring.StatusValid)},
			nil},
		{"address and secret", listFilter{addresses: []string{"bob@example.org"}, secret: true},
			[]string{"bb", "secret/bb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range tt.filter.apply(entries, now) {
				if e.Path != "" {
					got = append(got, e.Path)
				} else {
					got = append(got, e.Fingerprint)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.wantPaths, " ") {
				t.Errorf("apply kept %q, want %q", got, tt.wantPaths)
			}
		})
	}
}
