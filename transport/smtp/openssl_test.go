package smtp

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/internal/tlstest"
)

// acceptLine is what openssl s_server prints once it listens.
var acceptLine = regexp.MustCompile(`^ACCEPT 127\.0\.0\.1:(\d+)$`)

// TestImplicitTLS11ServerRejected points the implicit TLS mode at a real TLS
// server, OpenSSL's s_server, limited to TLS 1.1. The handshake must fail
// before any SMTP command is written. mailpit has no setting for its TLS
// versions, so it cannot show this. s_server does not speak SMTP, so only the
// implicit mode is checked here, and fake_session_test.go covers STARTTLS.
func TestImplicitTLS11ServerRejected(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	ca := tlstest.NewCA(t, "sealmail test CA")
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, t.TempDir())

	// SECLEVEL=0 lets OpenSSL 3 offer TLS 1.1 at all.
	cmd := exec.Command(openssl, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
		"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-cert", certFile, "-key", keyFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start openssl s_server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	ports := make(chan int, 1)
	var mu sync.Mutex
	var output strings.Builder
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			line := scanner.Text()
			mu.Lock()
			output.WriteString(line + "\n")
			mu.Unlock()
			if m := acceptLine.FindStringSubmatch(line); m != nil {
				port, _ := strconv.Atoi(m[1])
				ports <- port
			}
		}
		close(ports)
	}()
	var port int
	select {
	case p, ok := <-ports:
		if !ok {
			t.Fatal("openssl s_server ended before it listened")
		}
		port = p
	case <-time.After(10 * time.Second):
		t.Fatal("openssl s_server did not listen within 10 seconds")
	}

	tr, err := New(Options{
		Host:           "127.0.0.1",
		Port:           port,
		TLS:            ImplicitTLS,
		Username:       testUser,
		Password:       testPassword,
		RootCAs:        ca.Pool,
		ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Send(context.Background(), testEnvelope, strings.NewReader(testMessage))
	if err == nil {
		t.Fatal("Send to a TLS 1.1 server succeeded, want an error")
	}
	t.Logf("Send: %v", err)
	if !strings.Contains(err.Error(), "TLS 1.2") {
		t.Errorf("error %q does not name the TLS 1.2 minimum", err)
	}
	var sendErr *SendError
	if !errors.As(err, &sendErr) || sendErr.Temporary() {
		t.Errorf("error %v is not a permanent *SendError", err)
	}

	// s_server prints what a client writes after a handshake. The output
	// must contain no SMTP command and, above all, no credentials.
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, word := range []string{"EHLO", "AUTH", "MAIL FROM", testPassword} {
		if strings.Contains(output.String(), word) {
			t.Errorf("openssl s_server received %q:\n%s", word, output.String())
		}
	}
}
