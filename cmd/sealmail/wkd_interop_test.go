package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/wkdtest"
	"github.com/sealmail/sealmail/keyring/wkd"
)

// TestFetchedGPGKeyOpensInGPG serves a key that gpg made and exported from
// a Web Key Directory, fetches it with "sealmail keyring fetch", encrypts
// to it, and has gpg decrypt the message.
func TestFetchedGPGKeyOpensInGPG(t *testing.T) {
	g := gpgtest.New(t)
	const address = "bob@example.org"
	if _, stderr, err := g.Run(t, nil, "--passphrase", "", "--quick-generate-key", "Bob <"+address+">", "future-default", "default", "never"); err != nil {
		t.Fatalf("gpg --quick-generate-key failed: %v\n%s", err, stderr)
	}
	exported, stderr, err := g.Run(t, nil, "--export", address)
	if err != nil || len(exported) == 0 {
		t.Fatalf("gpg --export failed: %v\n%s", err, stderr)
	}

	ca, err := wkdtest.NewCA("sealmail test WKD CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("openpgpkey.example.org", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	server := wkdtest.StartServer(cert)
	t.Cleanup(server.Close)
	proxy, err := wkdtest.StartProxy(server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	advanced, _, err := wkd.URLs(address)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Publish(advanced, exported); err != nil {
		t.Fatal(err)
	}

	home, files := t.TempDir(), t.TempDir()
	caFile := filepath.Join(files, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout := fetchInProcessOfItsOwn(t, home, caFile, proxy.URL, address)
	if !strings.HasPrefix(stdout, "imported public key ") || !strings.Contains(stdout, "Bob <"+address+">") {
		t.Errorf("keyring fetch printed %q, want the imported key", stdout)
	}
	if got := proxy.Requests(); len(got) != 1 || got[0] != "openpgpkey.example.org:443" {
		t.Errorf("the proxy got CONNECT requests %q, want openpgpkey.example.org:443", got)
	}

	status, raw, stderrText := runCLI(t, home, interopText, "compose", "--encrypt", "--no-encrypt-to-self",
		"--from", "alice@example.org", "--to", address, "--subject", "Fetched by WKD", "--text", "-")
	if status != 0 {
		t.Fatalf("compose: exit status %d: %s", status, stderrText)
	}
	entity := gpgDecrypt(t, g, []byte(raw), false)
	checkInteropParts(t, entity, "text")
}

// fetchInProcessOfItsOwn runs "sealmail keyring fetch address" as a new
// process, the copy of the test binary that testscript.Main put in PATH, so
// that Go reads HTTPS_PROXY and SSL_CERT_FILE afresh, and returns its
// standard output.
func fetchInProcessOfItsOwn(t *testing.T, home, caFile, proxyURL, address string) string {
	t.Helper()
	sealmail, err := exec.LookPath("sealmail")
	if err != nil || !strings.Contains(sealmail, "testscript-main") {
		t.Fatalf("the sealmail command of testscript.Main is not in PATH (found %q, %v)", sealmail, err)
	}
	cmd := exec.Command(sealmail, "--home", home, "keyring", "fetch", address)
	cmd.Env = append(os.Environ(),
		"HTTPS_PROXY="+proxyURL, "https_proxy=", "NO_PROXY=", "no_proxy=",
		"SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+filepath.Join(filepath.Dir(caFile), "none"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sealmail keyring fetch failed: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}
