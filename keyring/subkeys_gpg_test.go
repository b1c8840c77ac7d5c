package keyring

import (
	"strings"
	"testing"
	"time"
)

// TestListGPGSubkeyExpiresSoon imports an RSA key whose subkeys GnuPG set to
// expire in 5 days while its primary key expires in 2 years, and checks
// that List reports the encryption subkey's expiry and counts the key as
// expiring.
func TestListGPGSubkeyExpiresSoon(t *testing.T) {
	gpg := newGPG(t)
	uid := "Rita <rita@example.org>"
	gpg.run(t, nil, "--quick-gen-key", uid, "rsa3072", "sign,cert", "2y")
	fpr := gpg.fingerprintOf(t, uid)
	gpg.run(t, nil, "--quick-add-key", fpr, "rsa3072", "encr", "2y")
	gpg.run(t, nil, "--quick-set-expire", fpr, "5d", "*")
	subkeyFpr := gpgSubkeyFingerprint(t, gpg, fpr)

	k := openTemp(t)
	importBytes(t, k, gpg.run(t, nil, "--export", fpr))
	now := time.Now()
	entry := listOne(t, k, now)

	if entry.Status != StatusValid {
		t.Fatalf("Status = %q, want valid", entry.Status)
	}
	// gpg counts a lifetime from the time it runs, and a year as 365 days,
	// so the expiries are checked to within a minute and 2 days.
	wantPrimary := now.AddDate(2, 0, 0)
	if entry.Expires == nil || entry.Expires.Sub(wantPrimary).Abs() > 2*24*time.Hour {
		t.Errorf("Expires = %v, want about 2 years from now", entry.Expires)
	}
	wantSubkey := now.Add(5 * 24 * time.Hour)
	if entry.EncryptionSubkeyExpires == nil || entry.EncryptionSubkeyExpires.Sub(wantSubkey).Abs() > time.Minute {
		t.Errorf("EncryptionSubkeyExpires = %v, want about %v", entry.EncryptionSubkeyExpires, wantSubkey)
	}
	if _, bySubkey := entry.EncryptionExpiry(); !bySubkey {
		t.Error("EncryptionExpiry is not the subkey's")
	}
	if !entry.Expiring(now) {
		t.Error("Expiring = false for a key whose encryption subkey expires in 5 days")
	}

	if len(entry.Subkeys) != 1 {
		t.Fatalf("Subkeys = %+v, want 1", entry.Subkeys)
	}
	subkey := entry.Subkeys[0]
	if subkey.Fingerprint != subkeyFpr {
		t.Errorf("subkey Fingerprint = %q, want gpg's %q", subkey.Fingerprint, subkeyFpr)
	}
	if subkey.Algorithm != "rsa3072" {
		t.Errorf("subkey Algorithm = %q, want rsa3072", subkey.Algorithm)
	}
	if len(subkey.Usage) != 1 || subkey.Usage[0] != "encrypt" {
		t.Errorf("subkey Usage = %q, want [encrypt]", subkey.Usage)
	}
	if subkey.Status != StatusValid || !subkey.SelectedForEncryption {
		t.Errorf("subkey = %+v, want valid and selected for encryption", subkey)
	}
}

// gpgSubkeyFingerprint returns the fingerprint of the only subkey of the key
// fpr in gpg's keyring, in lowercase hex.
func gpgSubkeyFingerprint(t *testing.T, gpg *gpgRunner, fpr string) string {
	t.Helper()
	out := gpg.run(t, nil, "--with-colons", "--with-subkey-fingerprints", "--list-keys", fpr)
	inSubkey := false
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, ":")
		switch {
		case fields[0] == "sub":
			inSubkey = true
		case fields[0] == "fpr" && inSubkey:
			return strings.ToLower(fields[9])
		}
	}
	t.Fatalf("gpg lists no subkey fingerprint for %s:\n%s", fpr, out)
	return ""
}
