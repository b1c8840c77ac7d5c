package maildir_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
)

// runNotmuch runs notmuch with the configuration file config and a home of
// its own, and returns its standard output and standard error together.
func runNotmuch(t *testing.T, bin, config string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NOTMUCH_CONFIG="+config, "HOME="+filepath.Dir(config))
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Run(); err != nil {
		t.Fatalf("notmuch %s: %v\n%s", strings.Join(args, " "), err, output.String())
	}
	return output.String()
}

func TestNotmuchIndexesMessagesOnly(t *testing.T) {
	bin := peers.Require(t, "notmuch")

	tests := []struct {
		name   string
		ignore string
	}{
		{name: "default configuration"},
		{name: "record folder ignored", ignore: maildir.RecordDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			mailRoot := filepath.Join(root, "mail")
			m, err := maildir.Open(filepath.Join(mailRoot, "outbox"))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			var delivered []string
			for i := range 3 {
				raw := strings.ReplaceAll(testMessage, "outbox-1@", fmt.Sprintf("outbox-%d@", i))
				rec := maildir.Record{Envelope: transport.Envelope{From: "alice@example.com", Recipients: []string{"bob@example.com"}}}
				path, err := m.Deliver(strings.NewReader(raw), rec)
				if err != nil {
					t.Fatalf("Deliver: %v", err)
				}
				delivered = append(delivered, path)
			}

			config := filepath.Join(root, "notmuch-config")
			configText := "[database]\npath=" + mailRoot + "\n" +
				"[user]\nname=Test\nprimary_email=alice@example.com\n" +
				"[new]\ntags=new\nignore=" + tt.ignore + "\n"
			if err := os.WriteFile(config, []byte(configText), 0o600); err != nil {
				t.Fatal(err)
			}

			output := runNotmuch(t, bin, config, "new")
			if !strings.Contains(output, "Added 3 new messages") {
				t.Errorf("notmuch new output %q, want 3 new messages", output)
			}
			// notmuch 0.37 scans dot-folders too. It skips the records as
			// non-mail files and prints a note, unless new.ignore names the
			// folder.
			for line := range strings.SplitSeq(output, "\n") {
				if strings.Contains(line, maildir.RecordDir) && !strings.HasPrefix(line, "Note: Ignoring non-mail file: ") {
					t.Errorf("notmuch new output line %q names the record folder", line)
				}
			}
			if tt.ignore != "" && strings.Contains(output, maildir.RecordDir) {
				t.Errorf("notmuch new output %q names the ignored record folder", output)
			}

			count := strings.TrimSpace(runNotmuch(t, bin, config, "count", "--output=files", "*"))
			if count != "3" {
				t.Errorf("notmuch counts %s files, want 3", count)
			}
			files := strings.Fields(runNotmuch(t, bin, config, "search", "--output=files", "*"))
			slices.Sort(files)
			slices.Sort(delivered)
			if !reflect.DeepEqual(files, delivered) {
				t.Errorf("notmuch indexed\n%q\nwant\n%q", files, delivered)
			}
		})
	}
}
