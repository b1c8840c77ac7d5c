// Package peers finds the real programs that tests check sealmail against:
// gpg, gpgsm, openssl, notmuch, node with OpenPGP.js, aws-ses-v2-local.
//
// A missing peer skips the test, and says which peer and how to install it,
// unless the environment variable CI or SEALMAIL_REQUIRE_PEERS is set: then a
// missing peer fails the test, because a skipped check proves nothing.
package peers

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Dir is the folder, relative to the module root, where the test command
// installs the npm peers (node_modules/.bin and node_modules/openpgp).
const Dir = ".peers"

// Require returns the path of the program name, looked up in PATH and then
// in the npm peers folder. When it is missing the test is skipped, or fails
// in CI.
func Require(t testing.TB, name string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if root := ModuleRoot(); root != "" {
		path := filepath.Join(root, Dir, "node_modules", ".bin", name)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	Missing(t, name)
	return ""
}

// Missing skips the test because peer is not installed, or fails it in CI
// and under scripts/test.
func Missing(t testing.TB, peer string) {
	t.Helper()
	const hint = "run ./scripts/test, which installs the missing peers"
	if os.Getenv("CI") != "" || os.Getenv("SEALMAIL_REQUIRE_PEERS") != "" {
		t.Fatalf("peer %s is missing; %s", peer, hint)
	}
	t.Skipf("peer %s is missing; %s", peer, hint)
}

var (
	rootOnce sync.Once
	root     string
)

// ModuleRoot returns the folder that holds go.mod, found by walking up from
// the working directory, or "" when there is none.
func ModuleRoot() string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	return root
}

// NodeModule returns the folder of the npm package name in the peers
// folder, skipping or failing the test when it is missing.
func NodeModule(t testing.TB, name string) string {
	t.Helper()
	if r := ModuleRoot(); r != "" {
		dir := filepath.Join(r, Dir, "node_modules", name)
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			return dir
		}
	}
	Missing(t, "npm package "+name)
	return ""
}
