package keyring

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// These tests merge exports that GnuPG made into the store, and check the
// result twice: every packet of the newest export is in the stored file,
// and gpg itself reads the certificate that Export returns.

// packetBodies returns the packets of binary OpenPGP data as tag and body,
// so that packets compare equal whatever header format wrote them. Trust
// packets, which are local to GnuPG, are left out.
func packetBodies(t *testing.T, data []byte) []string {
	t.Helper()
	r := packet.NewOpaqueReader(bytes.NewReader(data))
	var bodies []string
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("failed to split packets: %v", err)
		}
		if p.Tag == 12 {
			continue
		}
		bodies = append(bodies, string(rune(p.Tag))+string(p.Contents))
	}
	return bodies
}

// checkHasPackets fails the test when a packet of want is not in the
// stored certificate fpr.
func checkHasPackets(t *testing.T, k *Keyring, fpr string, want []byte) {
	t.Helper()
	stored, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool)
	for _, body := range packetBodies(t, stored) {
		have[body] = true
	}
	for i, body := range packetBodies(t, want) {
		if !have[body] {
			t.Errorf("packet %d (tag %d, %d bytes) of the gpg export is missing from the stored certificate", i+1, body[0], len(body)-1)
		}
	}
}

// gpgListing imports the certificate that Export returns for fpr into a
// fresh gpg home and returns the lines of "gpg --list-keys --with-colons",
// split into fields.
func gpgListing(t *testing.T, k *Keyring, fpr string) [][]string {
	t.Helper()
	exported, err := k.Export(context.Background(), fpr)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	packets := string(newGPG(t).run(t, exported, "--list-packets"))
	if strings.Contains(packets, "secret key packet") {
		t.Errorf("the export contains secret key material:\n%s", packets)
	}

	reader := newGPG(t)
	reader.run(t, exported, "--import")
	var lines [][]string
	for _, line := range strings.Split(string(reader.run(t, nil, "--with-colons", "--list-keys", fpr)), "\n") {
		if line != "" {
			lines = append(lines, strings.Split(line, ":"))
		}
	}
	return lines
}

// countRecords returns how many lines of listing have the record type
// kind, such as "sub" or "uid".
func countRecords(listing [][]string, kind string) int {
	n := 0
	for _, fields := range listing {
		if fields[0] == kind {
			n++
		}
	}
	return n
}

// gpgKey makes an Ed25519 key with a Curve25519 encryption subkey in gpg
// and returns its fingerprint.
func gpgKey(t *testing.T, gpg *gpgRunner, uid string) string {
	t.Helper()
	gpg.run(t, nil, "--quick-gen-key", uid, "ed25519", "sign,cert", "never")
	fpr := gpg.fingerprintOf(t, uid)
	gpg.run(t, nil, "--quick-add-key", fpr, "cv25519", "encr", "never")
	return fpr
}

func TestMergeGPGSameKeyTwice(t *testing.T) {
	gpg := newGPG(t)
	fpr := gpgKey(t, gpg, "Sam <sam@example.org>")
	export := gpg.run(t, nil, "--export", fpr)

	k := openTemp(t)
	if imported := importBytes(t, k, export); imported[0].Updated {
		t.Error("the first import is reported as an update")
	}
	first, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if imported := importBytes(t, k, export); !imported[0].Updated {
		t.Error("the second import is not reported as an update")
	}
	second, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("importing the same key again changed the certificate from %d to %d bytes", len(first), len(second))
	}
	checkHasPackets(t, k, fpr, export)

	listing := gpgListing(t, k, fpr)
	if n := countRecords(listing, "sub"); n != 1 {
		t.Errorf("gpg lists %d subkeys, want 1", n)
	}
}

// gpgGenRevoke returns the revocation certificate that "gpg --gen-revoke"
// writes for fpr. gpg 2.2 rejects --gen-revoke with --batch ("can't do
// this in batch mode"), so it runs without and reads its answers from
// standard input, as its command file descriptor.
func gpgGenRevoke(t *testing.T, gpg *gpgRunner, fpr string) []byte {
	t.Helper()
	cmd := exec.Command(gpg.path, "--homedir", gpg.home, "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "",
		"--command-fd", "0", "--armor", "--gen-revoke", fpr)
	// The answers: yes, reason 1 ("key has been compromised"), a
	// description ended by an empty line, and yes to confirm.
	cmd.Stdin = strings.NewReader("y\n1\nlost laptop\n\ny\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg --gen-revoke: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// goCryptoRevocation returns a revocation certificate for the gpg key fpr
// that go-crypto makes with the secret key exported from gpg.
func goCryptoRevocation(t *testing.T, gpg *gpgRunner, fpr string) []byte {
	t.Helper()
	secret, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(gpg.run(t, nil, "--export-secret-keys", fpr))))
	if err != nil {
		t.Fatalf("failed to read the gpg secret key: %v", err)
	}
	if err := secret.Revoke(packet.KeySuperseded, "replaced", nil); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	var revocation bytes.Buffer
	if err := secret.Revocations[len(secret.Revocations)-1].Packet.Serialize(&revocation); err != nil {
		t.Fatal(err)
	}
	return revocation.Bytes()
}

func TestMergeGPGRevocation(t *testing.T) {
	tests := []struct {
		name       string
		revocation func(t *testing.T, gpg *gpgRunner, fpr string) []byte
	}{
		{"openpgp-revocs.d", func(t *testing.T, gpg *gpgRunner, fpr string) []byte {
			data, err := os.ReadFile(gpg.home + "/openpgp-revocs.d/" + strings.ToUpper(fpr) + ".rev")
			if err != nil {
				t.Fatal(err)
			}
			// gpg puts a colon before the BEGIN line so that the file is
			// not imported by accident.
			return bytes.Replace(data, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
		}},
		{"gen-revoke", gpgGenRevoke},
		{"go-crypto", goCryptoRevocation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gpg := newGPG(t)
			fpr := gpgKey(t, gpg, "Ria <ria@example.org>")
			export := gpg.run(t, nil, "--export", fpr)
			revocation := tt.revocation(t, gpg, fpr)

			k := openTemp(t)
			importBytes(t, k, export)
			imported := importBytes(t, k, revocation)
			if len(imported) != 1 || imported[0].Fingerprint != fpr || !imported[0].Updated {
				t.Errorf("Import of the revocation = %+v, want an update of %s", imported, fpr)
			}

			// gpg merges the revocation into its own copy, and the store
			// must contain every packet of that copy.
			gpg.run(t, revocation, "--import")
			checkHasPackets(t, k, fpr, gpg.run(t, nil, "--export", fpr))

			_, err := k.EncryptionKey(context.Background(), "ria@example.org", time.Now())
			if lookup := lookupError(t, err); lookup.Status != StatusRevoked {
				t.Errorf("status = %q, want revoked (%v)", lookup.Status, err)
			}

			listing := gpgListing(t, k, fpr)
			for _, fields := range listing {
				if fields[0] == "pub" && fields[1] != "r" {
					t.Errorf("gpg reports validity %q for the exported key, want r (revoked)", fields[1])
				}
			}
			if n := countRecords(listing, "sub"); n != 1 {
				t.Errorf("gpg lists %d subkeys, want 1", n)
			}
			if n := countRecords(listing, "uid"); n != 1 {
				t.Errorf("gpg lists %d user IDs, want 1", n)
			}
		})
	}
}

// gpgKeyVersions returns two exports of a gpg key: with one encryption
// subkey, and after "gpg --quick-add-key" added a signing subkey.
func gpgKeyVersions(t *testing.T, gpg *gpgRunner, uid string) (fpr string, older, newer []byte) {
	t.Helper()
	fpr = gpgKey(t, gpg, uid)
	older = gpg.run(t, nil, "--export", fpr)
	gpg.run(t, nil, "--quick-add-key", fpr, "ed25519", "sign", "never")
	newer = gpg.run(t, nil, "--export", fpr)
	return fpr, older, newer
}

func TestMergeGPGNewSubkey(t *testing.T) {
	gpg := newGPG(t)
	fpr, older, newer := gpgKeyVersions(t, gpg, "Nils <nils@example.org>")

	k := openTemp(t)
	importBytes(t, k, older)
	if imported := importBytes(t, k, newer); !imported[0].Updated {
		t.Error("the import of the new subkey is not reported as an update")
	}
	checkHasPackets(t, k, fpr, newer)

	stored, err := k.readCert(fpr)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Subkeys) != 2 {
		t.Errorf("stored key has %d subkeys, want 2", len(stored.Subkeys))
	}
	if _, ok := stored.SigningKey(time.Now(), nil); !ok {
		t.Error("go-crypto finds no signing key in the merged key")
	}
	if _, ok := stored.EncryptionKey(time.Now(), nil); !ok {
		t.Error("go-crypto finds no encryption key in the merged key")
	}

	listing := gpgListing(t, k, fpr)
	if n := countRecords(listing, "sub"); n != 2 {
		t.Errorf("gpg lists %d subkeys, want 2", n)
	}
	for _, fields := range listing {
		if fields[0] == "sub" && fields[1] != "-" && fields[1] != "u" && fields[1] != "f" {
			t.Errorf("gpg reports validity %q for subkey %s", fields[1], fields[4])
		}
	}
}

func TestMergeGPGOlderExport(t *testing.T) {
	gpg := newGPG(t)
	fpr, older, newer := gpgKeyVersions(t, gpg, "Olaf <olaf@example.org>")

	k := openTemp(t)
	importBytes(t, k, newer)
	before, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, older)
	after, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("importing an older export changed the certificate from %d to %d bytes", len(before), len(after))
	}
	checkHasPackets(t, k, fpr, newer)

	stored, err := k.readCert(fpr)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Subkeys) != 2 {
		t.Errorf("stored key has %d subkeys after the older export, want 2", len(stored.Subkeys))
	}
	if n := countRecords(gpgListing(t, k, fpr), "sub"); n != 2 {
		t.Errorf("gpg lists %d subkeys, want 2", n)
	}
}
