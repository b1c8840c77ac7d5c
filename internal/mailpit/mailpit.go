// Package mailpit starts the SMTP test server mailpit for tests and reads
// back the messages it stored.
//
// mailpit v1.33.1 keeps the exact bytes it received, after header fields
// that it adds in front. Received is always added, and Return-Path when the
// message has none that matches MAIL FROM. Bcc is added to list the envelope
// recipients that no To or Cc field names. mailpit is installed with
// "go install github.com/axllent/mailpit@v1.33.1", into $(go env GOPATH)/bin.
package mailpit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/peers"
)

// startTimeout is how long Start waits for mailpit to listen.
const startTimeout = 30 * time.Second

// TLS is the TLS mode of mailpit's SMTP listener.
type TLS int

const (
	// NoTLS serves plain SMTP and offers no STARTTLS.
	NoTLS TLS = iota
	// RequireSTARTTLS offers STARTTLS and rejects mail before it.
	RequireSTARTTLS
	// RequireImplicitTLS starts every connection with TLS.
	RequireImplicitTLS
)

// Options configure a mailpit run.
type Options struct {
	TLS TLS
	// CertPEM and KeyPEM are the server certificate and key. They are
	// required unless TLS is NoTLS.
	CertPEM, KeyPEM []byte
	// Users maps user names to passwords for SMTP AUTH. Empty means that
	// mailpit accepts mail without AUTH. mailpit does not start with users
	// and NoTLS.
	Users map[string]string
}

// Server is a running mailpit, listening on 127.0.0.1.
type Server struct {
	// SMTPHost and SMTPPort are the address of the SMTP listener.
	SMTPHost string
	SMTPPort int
	// URL is the base URL of the HTTP API, such as "http://127.0.0.1:41234".
	URL string
}

// Start runs mailpit on 127.0.0.1 and two free ports, waits until both
// listeners accept connections, and stops it when the test ends. A missing
// mailpit skips the test, or fails it in CI.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := find(t)
	dir := t.TempDir()

	smtpPort, httpPort := freePort(t), freePort(t)
	args := []string{
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--smtp", "127.0.0.1:" + strconv.Itoa(smtpPort),
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check",
	}
	if opts.TLS != NoTLS {
		certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		writeFile(t, certFile, opts.CertPEM)
		writeFile(t, keyFile, opts.KeyPEM)
		args = append(args, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile)
	}
	switch opts.TLS {
	case RequireSTARTTLS:
		args = append(args, "--smtp-require-starttls")
	case RequireImplicitTLS:
		args = append(args, "--smtp-require-tls")
	}
	if len(opts.Users) > 0 {
		var lines strings.Builder
		for user, password := range opts.Users {
			fmt.Fprintf(&lines, "%s:%s\n", user, password)
		}
		authFile := filepath.Join(dir, "auth")
		writeFile(t, authFile, []byte(lines.String()))
		args = append(args, "--smtp-auth-file", authFile)
	}

	var output bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = &output
	cmd.Stderr = &output
	cmd.WaitDelay = 5 * time.Second
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("failed to start mailpit: %v", err)
	}
	// exited is closed when mailpit has exited, with its error in waitErr.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	s := &Server{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, URL: "http://127.0.0.1:" + strconv.Itoa(httpPort)}
	if err := s.waitReady(exited, &waitErr); err != nil {
		t.Fatalf("mailpit did not start: %v\noutput:\n%s", err, output.String())
	}
	return s
}

// find returns the path of mailpit, from PATH or $(go env GOPATH)/bin.
func find(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("mailpit"); err == nil {
		return path
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			path := filepath.Join(dir, "bin", "mailpit")
			if _, err := os.Stat(path); err == nil {
				return path
			}
		}
	}
	peers.Missing(t, "mailpit")
	return ""
}

// waitReady waits until GET /readyz returns 200 OK and the SMTP port accepts
// connections, the process exits, or startTimeout passes.
func (s *Server) waitReady(exited <-chan struct{}, waitErr *error) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	smtpAddr := net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort))
	for {
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				conn, err := net.DialTimeout("tcp", smtpAddr, time.Second)
				if err == nil {
					conn.Close()
					return nil
				}
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("mailpit exited: %v", *waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for /readyz and the SMTP port", startTimeout)
		}
	}
}

// Count returns the number of messages mailpit has stored.
func (s *Server) Count(t testing.TB) int {
	t.Helper()
	var list struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(s.get(t, "/api/v1/messages"), &list); err != nil {
		t.Fatalf("failed to decode the mailpit message list: %v", err)
	}
	return list.Total
}

// LatestRaw returns the bytes of the message mailpit received last, as it
// stored them: its own trace header fields first.
func (s *Server) LatestRaw(t testing.TB) []byte {
	t.Helper()
	return s.get(t, "/api/v1/message/latest/raw")
}

func (s *Server) get(t testing.TB, path string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s from mailpit: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s from mailpit: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s from mailpit: HTTP %d: %s", path, resp.StatusCode, body)
	}
	return body
}

// StripTrace returns stored without the Received, Return-Path and Bcc
// fields that mailpit adds in front of the message it received. It fails the
// test when the fields in front of want are anything else. It returns stored
// unchanged when it does not end with want, for the caller's comparison to
// report.
func StripTrace(t testing.TB, stored, want []byte) []byte {
	t.Helper()
	if !bytes.HasSuffix(stored, want) {
		return stored
	}
	prefix := stored[:len(stored)-len(want)]
	for _, line := range strings.SplitAfter(string(prefix), "\r\n") {
		if line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		switch {
		case strings.HasPrefix(line, " "), strings.HasPrefix(line, "\t"):
			// The folded continuation of the field before.
		case strings.EqualFold(name, "Received"), strings.EqualFold(name, "Return-Path"), strings.EqualFold(name, "Bcc"):
		default:
			t.Fatalf("mailpit stored an unexpected line before the message: %q", line)
		}
	}
	return stored[len(prefix):]
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("failed to find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
