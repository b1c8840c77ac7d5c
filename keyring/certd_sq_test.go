package keyring

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
)

// Sequoia's sq reads the certificate files of the directory here, one by
// one, as the peer for the file format. Debian's sq 0.27 cannot open a
// certificate directory (it has no --cert-store and ignores PGP_CERT_D), so
// the naming rules are checked by certDirReader in certd_test.go. sq 0.27
// reads v4 keys only, so a v6 key is left out.

// sqInspect runs "sq inspect" on the file path and returns its report.
func sqInspect(t *testing.T, sq, path string) string {
	t.Helper()
	cmd := exec.Command(sq, "inspect", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sq inspect %s: %v\n%s", path, err, stderr.Bytes())
	}
	return string(out)
}

var sqSubkeyLine = regexp.MustCompile(`(?m)^\s+Subkey: [0-9A-F]{40}$`)

func TestCertDirReadBySequoia(t *testing.T) {
	sq := peers.Require(t, "sq")
	gpg := newGPG(t)
	// A key stored, then merged with a newer export (a second subkey) and
	// its revocation certificate.
	fpr, older, newer := gpgKeyVersions(t, gpg, "Sten <sten@example.org>")
	revocation := gpgGenRevoke(t, gpg, fpr)
	other := generate(t, "Rasmus", "rasmus@example.org", GenerateOptions{RSABits: 2048})
	own := generate(t, "Vera", "vera@example.org", GenerateOptions{})

	k := openTemp(t)
	importBytes(t, k, older)
	importBytes(t, k, newer)
	importBytes(t, k, revocation)
	importBytes(t, k, publicBytes(t, other))
	// A secret key, whose certificate goes to the directory without its
	// secret key material.
	importBytes(t, k, secretBytes(t, own))

	certs, _ := certDirReader(t, k.certDir)
	if len(certs) != 3 {
		t.Fatalf("the directory contains %d certificates, want 3", len(certs))
	}
	for name := range certs {
		report := sqInspect(t, sq, filepath.Join(k.certDir, name[:2], name[2:]))
		if !strings.Contains(report, ": OpenPGP Certificate.\n") {
			t.Errorf("sq does not read %s as a certificate without secrets:\n%s", name, report)
		}
		if !strings.Contains(report, "Fingerprint: "+strings.ToUpper(name)+"\n") {
			t.Errorf("sq reports another fingerprint for the file %s:\n%s", name, report)
		}
	}

	merged := sqInspect(t, sq, k.certPath(fpr))
	if n := len(sqSubkeyLine.FindAllString(merged, -1)); n != 2 {
		t.Errorf("sq finds %d subkeys in the merged key, want 2:\n%s", n, merged)
	}
	if !strings.Contains(merged, "Revoked:") {
		t.Errorf("sq does not see the revocation in the merged key:\n%s", merged)
	}
	if !strings.Contains(merged, "UserID: Sten <sten@example.org>") {
		t.Errorf("sq does not find the user ID of the merged key:\n%s", merged)
	}
}
