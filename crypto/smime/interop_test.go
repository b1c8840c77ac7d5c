package smime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/internal/rawmime"
)

// newGpgsmHome returns a GNUPGHOME in which gpgsm has imported the test root
// and trusts it.
func newGpgsmHome(t *testing.T, pki *testPKI) string {
	t.Helper()
	gpgsm := gpgtest.NewGPGSM(t, pki.root)
	importCmd := exec.Command(gpgsm.Path, "--batch", "--import", pki.rootFile)
	importCmd.Env = append(os.Environ(), "GNUPGHOME="+gpgsm.Home)
	if out, err := importCmd.CombinedOutput(); err != nil {
		t.Fatalf("gpgsm --import of the root failed: %v\n%s", err, out)
	}
	return gpgsm.Home
}

func TestSignGpgsm(t *testing.T) {
	pki := newTestPKI(t)
	home := newGpgsmHome(t, pki)
	for _, kind := range signerKinds {
		t.Run(string(kind), func(t *testing.T) {
			message := sign(t, pki.issue(t, kind, "alice@example.org"), testEntity, nil)
			entity, err := rawmime.ParseEntity(message)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
			if err != nil || len(parts) != 2 {
				t.Fatalf("failed to split multipart/signed: %v", err)
			}

			dir := t.TempDir()
			content := filepath.Join(dir, "content")
			signature := filepath.Join(dir, "smime.p7s")
			if err := os.WriteFile(content, parts[0], 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(signature, signedDataDER(t, message), 0o600); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command("gpgsm", "--batch", "--status-fd", "1", "--verify", signature, content)
			cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("gpgsm --verify failed: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("[GNUPG:] GOODSIG")) || !bytes.Contains(out, []byte("[GNUPG:] TRUST_FULLY")) {
				t.Errorf("gpgsm reports no good, fully trusted signature:\n%s", out)
			}
		})
	}
}

func TestSignNotmuch(t *testing.T) {
	notmuch := peers.Require(t, "notmuch")
	pki := newTestPKI(t)
	home := newGpgsmHome(t, pki)
	message := sign(t, pki.issue(t, kindP256, "alice@example.org"), testEntity, nil)

	dir := t.TempDir()
	mailDir := filepath.Join(dir, "mail")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(mailDir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	header := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: signed\r\n" +
		"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <signed@example.org>\r\nMIME-Version: 1.0\r\n"
	if err := os.WriteFile(filepath.Join(mailDir, "new", "1.eml"), append([]byte(header), message...), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "notmuch-config")
	if err := os.WriteFile(config, []byte("[database]\npath="+mailDir+"\n[user]\nprimary_email=bob@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GNUPGHOME="+home, "NOTMUCH_CONFIG="+config)

	index := exec.Command(notmuch, "new")
	index.Env = env
	if out, err := index.CombinedOutput(); err != nil {
		t.Fatalf("notmuch new failed: %v\n%s", err, out)
	}
	show := exec.Command(notmuch, "show", "--format=json", "--verify", "id:signed@example.org")
	show.Env = env
	out, err := show.Output()
	if err != nil {
		t.Fatalf("notmuch show failed: %v", err)
	}

	var statuses []string
	collectSigStatus(decodeJSON(t, out), &statuses)
	if len(statuses) != 1 || statuses[0] != "good" {
		t.Errorf("notmuch signature status is %v, want [good]:\n%s", statuses, out)
	}
}

func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("notmuch output is not JSON: %v", err)
	}
	return v
}

// collectSigStatus appends the status of every "sigstatus" entry in v.
func collectSigStatus(v any, statuses *[]string) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			collectSigStatus(e, statuses)
		}
	case map[string]any:
		if list, ok := v["sigstatus"].([]any); ok {
			for _, s := range list {
				if m, ok := s.(map[string]any); ok {
					*statuses = append(*statuses, fmt.Sprint(m["status"]))
				}
			}
		}
		for _, e := range v {
			collectSigStatus(e, statuses)
		}
	}
}
