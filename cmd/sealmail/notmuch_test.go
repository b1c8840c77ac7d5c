package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/transport/maildir"
)

// notmuchShow indexes the Maildir dir with notmuch, which decrypts and
// verifies with the keys in gnupgHome, and returns the output of notmuch
// show --format=json --decrypt=true for every message.
func notmuchShow(t *testing.T, dir, gnupgHome string) []byte {
	t.Helper()
	notmuch := peers.Require(t, "notmuch")
	// The envelope records in maildir.RecordDir are not mail, so notmuch
	// new skips them.
	config := filepath.Join(t.TempDir(), "notmuch-config")
	configText := fmt.Sprintf("[database]\npath=%s\n[user]\nname=Bob\nprimary_email=bob@example.org\n[new]\nignore=%s\n",
		dir, maildir.RecordDir)
	if err := os.WriteFile(config, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(notmuch, args...)
		cmd.Env = append(os.Environ(), "NOTMUCH_CONFIG="+config, "GNUPGHOME="+gnupgHome)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("notmuch %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	run("new", "--quiet")
	return run("show", "--format=json", "--decrypt=true", "*")
}
