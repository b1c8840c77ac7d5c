// Package sesemu starts the SES emulator aws-ses-v2-local for tests and
// reads back what it stored.
//
// aws-ses-v2-local 2.10.2 parses each raw message it receives and keeps its
// fields and parts, not the raw bytes. It takes the recipients from the
// header fields and ignores Destination. GET /store returns every message;
// the content of an attachment is base64.
package sesemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/peers"
)

// startTimeout is how long Start waits for the emulator to respond.
const startTimeout = 30 * time.Second

// Emulator is a running aws-ses-v2-local, listening on 127.0.0.1.
type Emulator struct {
	// URL is the endpoint to give the SDK, such as "http://127.0.0.1:41234".
	URL string
}

// Start runs aws-ses-v2-local on 127.0.0.1 and a free port, waits until it
// responds, and stops it when the test ends. env adds "NAME=value" entries to
// its environment, such as AWS_SES_ACCOUNT with the JSON that GetAccount
// returns. A missing emulator skips the test, or fails it in CI.
func Start(t testing.TB, env ...string) *Emulator {
	t.Helper()
	bin := peers.Require(t, "aws-ses-v2-local")

	port, err := freePort()
	if err != nil {
		t.Fatalf("failed to find a free port: %v", err)
	}

	var output bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	// Without --host the emulator listens on every interface.
	cmd := exec.CommandContext(ctx, bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = &output
	cmd.Stderr = &output
	cmd.WaitDelay = 5 * time.Second
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("failed to start aws-ses-v2-local: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	e := &Emulator{URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	if err := e.waitReady(exited); err != nil {
		t.Fatalf("aws-ses-v2-local did not start: %v\noutput:\n%s", err, output.String())
	}
	return e
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the health check until it returns HTTP 200, the process
// exits, or startTimeout passes.
func (e *Emulator) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(e.URL + "/health-check")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}

		select {
		case err := <-exited:
			return fmt.Errorf("the process exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no response from %s within %v", e.URL, startTimeout)
		}
	}
}

// Email is one message as the emulator stored it.
type Email struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Destination struct {
		To  []string `json:"to"`
		Cc  []string `json:"cc"`
		Bcc []string `json:"bcc"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	} `json:"body"`
	Attachments []Attachment `json:"attachments"`
	Headers     []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	// At is the time of receipt, in seconds since the Unix epoch.
	At int64 `json:"at"`
}

// Attachment is a part the emulator did not take as the text or HTML body.
type Attachment struct {
	// Content is base64 in the store; Data returns it decoded.
	Content            string `json:"content"`
	ContentType        string `json:"contentType"`
	ContentDisposition string `json:"contentDisposition"`
	Filename           string `json:"filename"`
	Size               int    `json:"size"`
}

// Data returns the decoded content of the attachment.
func (a Attachment) Data() ([]byte, error) {
	return base64.StdEncoding.DecodeString(a.Content)
}

// Store returns the raw JSON of GET /store.
func (e *Emulator) Store(t testing.TB) []byte {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(e.URL + "/store")
	if err != nil {
		t.Fatalf("failed to read the emulator store: %v", err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("failed to read the emulator store: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("failed to read the emulator store: HTTP %d: %s", resp.StatusCode, body)
	}
	return body
}

// Emails returns the messages in the store, oldest first.
func (e *Emulator) Emails(t testing.TB) []Email {
	t.Helper()
	var store struct {
		Emails []Email `json:"emails"`
	}
	if err := json.Unmarshal(e.Store(t), &store); err != nil {
		t.Fatalf("failed to parse the emulator store: %v", err)
	}
	return store.Emails
}

// Clear empties the store.
func (e *Emulator) Clear(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(e.URL+"/clear-store", "application/json", nil)
	if err != nil {
		t.Fatalf("failed to clear the emulator store: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("failed to clear the emulator store: HTTP %d", resp.StatusCode)
	}
}
