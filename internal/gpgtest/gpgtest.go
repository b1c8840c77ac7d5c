// Package gpgtest runs GnuPG (gpg and gpgsm 2.2 or later) in a throwaway
// home for tests that check sealmail's OpenPGP and S/MIME output against a
// real implementation.
//
// Each GPG and GPGSM has its own GNUPGHOME under os.TempDir with a short
// name, because gpg-agent puts its socket there when /run/user/UID does not
// exist, and the long paths of t.TempDir exceed the socket path limit of
// about 108 bytes.
package gpgtest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
)

// GPG is a gpg binary with a home of its own.
type GPG struct {
	// Path is the gpg binary.
	Path string
	// Home is the GNUPGHOME directory, mode 0700.
	Home string
}

// New finds gpg (skipping the test, or failing it in CI, when it is
// missing) and makes an empty home for it. The home is removed and its agent
// killed when the test ends.
func New(t testing.TB) *GPG {
	t.Helper()
	path := peers.Require(t, "gpg")
	gpgconf := peers.Require(t, "gpgconf")

	home, err := os.MkdirTemp("", "g")
	if err != nil {
		t.Fatalf("failed to create a GNUPGHOME: %v", err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatalf("failed to set the mode of GNUPGHOME %q: %v", home, err)
	}

	g := &GPG{Path: path, Home: home}
	t.Cleanup(func() {
		killAgent(gpgconf, home)
		os.RemoveAll(home)
	})
	return g
}

// GPGSM is a gpgsm binary with a home of its own.
type GPGSM struct {
	// Path is the gpgsm binary.
	Path string
	// Home is the GNUPGHOME directory, mode 0700.
	Home string
}

// NewGPGSM finds gpgsm (skipping the test, or failing it in CI, when it is
// missing) and makes a home in which gpgsm trusts roots for S/MIME and checks
// no CRLs, because the test CAs publish none. It imports no certificate, so
// the caller imports the roots and whatever else the test needs. The home is
// removed and its agent killed when the test ends.
func NewGPGSM(t testing.TB, roots ...*x509.Certificate) *GPGSM {
	t.Helper()
	path := peers.Require(t, "gpgsm")
	gpgconf := peers.Require(t, "gpgconf")

	home, err := os.MkdirTemp("", "g")
	if err != nil {
		t.Fatalf("failed to create a GNUPGHOME: %v", err)
	}
	t.Cleanup(func() {
		killAgent(gpgconf, home)
		os.RemoveAll(home)
	})
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatalf("failed to set the mode of GNUPGHOME %q: %v", home, err)
	}

	// Each line of trustlist.txt, which gpg-agent reads, contains the SHA-1
	// fingerprint of a root in colon-separated hex and the flag S for S/MIME.
	var trustlist strings.Builder
	for _, root := range roots {
		fingerprint := fmt.Sprintf("% X", sha1.Sum(root.Raw))
		trustlist.WriteString(strings.ReplaceAll(fingerprint, " ", ":") + " S\n")
	}
	files := map[string]string{
		"gpgsm.conf":    "disable-crl-checks\n",
		"trustlist.txt": trustlist.String(),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(home, name), []byte(text), 0o600); err != nil {
			t.Fatalf("failed to write %s: %v", name, err)
		}
	}
	return &GPGSM{Path: path, Home: home}
}

// killAgent stops the gpg-agent that gpg or gpgsm started under home, if
// any.
func killAgent(gpgconf, home string) {
	cmd := exec.Command(gpgconf, "--kill", "gpg-agent")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	_ = cmd.Run()
}

func (g *GPG) env() []string {
	return append(os.Environ(), "GNUPGHOME="+g.Home, "LC_ALL=C")
}

// Import imports keys or certificates, armored or binary, and fails the test
// when gpg rejects them.
func (g *GPG) Import(t testing.TB, keys []byte) {
	t.Helper()
	_, stderr, err := g.Run(t, keys, "--import")
	if err != nil {
		t.Fatalf("gpg --import failed: %v\n%s", err, stderr)
	}
}

// Run runs gpg with the arguments args after the defaults --batch --no-tty
// --pinentry-mode loopback --trust-model always, feeding it stdin. It
// returns what gpg wrote and its exit error; a gpg that cannot start fails
// the test.
func (g *GPG) Run(t testing.TB, stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	defaults := []string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--trust-model", "always"}
	cmd := exec.Command(g.Path, append(defaults, args...)...)
	cmd.Env = g.env()
	cmd.Stdin = bytes.NewReader(stdin)

	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err = cmd.Run()

	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("failed to run gpg: %v", err)
	}
	return out.Bytes(), errOut.Bytes(), err
}

// Status runs gpg like Run with --status-fd 2 and returns its status lines
// without the "[GNUPG:] " prefix ("GOODSIG 0123... Alice"), the data gpg
// wrote to stdout, and the whole of stderr for failure messages.
func (g *GPG) Status(t testing.TB, stdin []byte, args ...string) (status []string, stdout, stderr []byte, err error) {
	t.Helper()
	stdout, stderr, err = g.Run(t, stdin, append([]string{"--status-fd", "2"}, args...)...)

	const prefix = "[GNUPG:] "
	scanner := bufio.NewScanner(bytes.NewReader(stderr))
	for scanner.Scan() {
		if line, ok := strings.CutPrefix(scanner.Text(), prefix); ok {
			status = append(status, line)
		}
	}
	return status, stdout, stderr, err
}

// HasStatus reports whether a status line has the keyword keyword, such as
// "GOODSIG" or "DECRYPTION_OKAY".
func HasStatus(status []string, keyword string) bool {
	return StatusLine(status, keyword) != ""
}

// StatusLine returns the first status line with the keyword keyword, or "".
func StatusLine(status []string, keyword string) string {
	for _, line := range status {
		if line == keyword || strings.HasPrefix(line, keyword+" ") {
			return line
		}
	}
	return ""
}
