//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/sys/unix"

	"github.com/sealmail/sealmail/keyring"
)

// terminalSession is a run of the sealmail binary on a new pseudo-terminal,
// its controlling terminal and its standard streams, as in a shell.
type terminalSession struct {
	t      *testing.T
	master *os.File // the user's side: what is written here is typed
	slave  *os.File // the program's side, kept open to read its termios
	cmd    *exec.Cmd
	exited chan struct{}
	// drained is closed when the master has nothing more to read, which
	// is after the program exited and the slave was closed.
	drained chan struct{}

	mu     sync.Mutex
	output bytes.Buffer // everything the program wrote to the terminal
}

// startOnTerminal starts sealmail with args and the home home on a new
// pseudo-terminal, with no SEALMAIL_ variables, so that it prompts there.
func startOnTerminal(t *testing.T, home string, args ...string) *terminalSession {
	t.Helper()
	exe, err := exec.LookPath("sealmail")
	if err != nil {
		t.Fatalf("testscript.Main put no sealmail command on PATH: %v", err)
	}
	master, slave := openPseudoTerminal(t)
	s := &terminalSession{t: t, master: master, slave: slave, exited: make(chan struct{}), drained: make(chan struct{})}

	s.cmd = exec.Command(exe, append([]string{"--home", home}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEALMAIL_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = slave, slave, slave
	// A new session whose controlling terminal is the child's standard
	// input, so that /dev/tty is the pseudo-terminal and Ctrl-C on it
	// sends SIGINT to the child.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		slave.Close()
		master.Close()
	})

	go func() {
		defer close(s.drained)
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.output.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	return s
}

// openPseudoTerminal opens a new pseudo-terminal pair from /dev/ptmx.
func openPseudoTerminal(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var number uint32
	err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		number, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return err
	})
	if err != nil {
		master.Close()
		t.Fatalf("failed to unlock the pseudo-terminal: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(number), 10), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	return master, slave
}

// control calls f with the descriptor of file, without putting it in
// blocking mode as file.Fd does.
func control(file *os.File, f func(fd int) error) error {
	conn, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := conn.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// waitFor waits until the program has written text to the terminal.
func (s *terminalSession) waitFor(text string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		found := strings.Contains(s.output.String(), text)
		s.mu.Unlock()
		if found {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("sealmail exited before writing %q; it wrote:\n%s", text, s.text())
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.t.Fatalf("sealmail did not write %q within 20s; it wrote:\n%s", text, s.text())
}

// text returns what the program has written to the terminal so far.
func (s *terminalSession) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// typeText writes text to the terminal as if the user typed it.
func (s *terminalSession) typeText(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.master, text); err != nil {
		s.t.Fatal(err)
	}
}

// echoOn reports whether the terminal echoes what is typed.
func (s *terminalSession) echoOn() bool {
	s.t.Helper()
	var termios *unix.Termios
	err := control(s.slave, func(fd int) (err error) {
		termios, err = unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return termios.Lflag&unix.ECHO != 0
}

// finish waits up to 30 seconds for the program to exit, and returns its
// exit status, all it wrote, and whether the terminal echoes after it. The
// wait is long because protecting a new key with its passphrase takes
// seconds on a loaded machine.
func (s *terminalSession) finish() (status int, output string, echo bool) {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("sealmail still runs 30s after the last input or signal; it wrote:\n%s", s.text())
	}
	echo = s.echoOn()

	// With the last slave closed, reads of the master return what is left
	// and then fail.
	s.slave.Close()
	select {
	case <-s.drained:
	case <-time.After(5 * time.Second):
		s.t.Fatal("the pseudo-terminal still has output 5s after sealmail exited")
	}
	return s.cmd.ProcessState.ExitCode(), s.text(), echo
}

// promptHome returns a home with a secret key for alice@example.org,
// locked with generatePassphrase, and an unconfirmed public key for
// bob@example.org, whose fingerprint it returns.
func promptHome(t *testing.T) (home, bobFingerprint string) {
	t.Helper()
	home = t.TempDir()
	generateWithCLI(t, home, "alice@example.org")

	bob, err := keyring.Generate("Bob", "bob@example.org", keyring.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bobFile := filepath.Join(t.TempDir(), "bob.asc")
	f, err := os.Create(bobFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeArmored(f, openpgp.PublicKeyType, bob.Serialize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", bobFile); status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderr)
	}
	return home, fmt.Sprintf("%X", bob.PrimaryKey.Fingerprint)
}

// findEntry returns the key for query in the keyring of home, or false.
func findEntry(t *testing.T, home, query string) (keyring.Entry, bool) {
	t.Helper()
	kr, err := keyring.Open(filepath.Join(home, "keyring"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := kr.Find(context.Background(), query, time.Now())
	if errors.Is(err, keyring.ErrNotFound) || err == nil && len(entries) == 0 {
		return keyring.Entry{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return entries[0], true
}

func TestPromptInterrupt(t *testing.T) {
	bodyFile := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(bodyFile, []byte("Hello.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	message := []string{"--from", "alice@example.org", "--to", "bob@example.org", "--subject", "Hi", "--text", bodyFile}

	tests := []struct {
		name string
		// args returns the command line, given bob's fingerprint.
		args func(bob string) []string
		// input is typed before the prompt, such as the message that
		// sendmail reads on standard input, ended by Ctrl-D.
		input  string
		prompt string
		// secret is whether the prompt turns echo off.
		secret bool
		// unchanged checks that the home is as promptHome left it.
		unchanged func(t *testing.T, home, bob, output string)
	}{
		{
			name:   "generate",
			args:   func(string) []string { return []string{"keyring", "generate", "new@example.org"} },
			prompt: "Passphrase for the new key of new@example.org: ",
			secret: true,
			unchanged: func(t *testing.T, home, _, _ string) {
				if _, found := findEntry(t, home, "new@example.org"); found {
					t.Error("a key for new@example.org was stored after the interrupt")
				}
			},
		},
		{
			name:   "compose sign",
			args:   func(string) []string { return append([]string{"compose", "--sign"}, message...) },
			prompt: "Passphrase for the key of alice@example.org: ",
			secret: true,
			unchanged: func(t *testing.T, _, _, output string) {
				if strings.Contains(output, "BEGIN PGP") {
					t.Errorf("compose wrote a message after the interrupt:\n%s", output)
				}
			},
		},
		{
			name:   "send sign",
			args:   func(string) []string { return append([]string{"send", "--sign"}, message...) },
			prompt: "Passphrase for the key of alice@example.org: ",
			secret: true,
			unchanged: func(t *testing.T, home, _, _ string) {
				copies, _ := filepath.Glob(filepath.Join(home, "outbox", "new", "*"))
				if len(copies) > 0 {
					t.Errorf("send wrote %d copies to the outbox after the interrupt", len(copies))
				}
			},
		},
		{
			name:   "sendmail",
			args:   func(string) []string { return []string{"sendmail", "bob@example.org"} },
			input:  "From: alice@example.org\nTo: bob@example.org\nSubject: Hi\n\nHello.\n\x04",
			prompt: "Passphrase for the key of alice@example.org: ",
			secret: true,
			unchanged: func(t *testing.T, home, _, _ string) {
				copies, _ := filepath.Glob(filepath.Join(home, "outbox", "new", "*"))
				if len(copies) > 0 {
					t.Errorf("sendmail wrote %d copies to the outbox after the interrupt", len(copies))
				}
				queued, _ := filepath.Glob(filepath.Join(home, "spool", "*"))
				if len(queued) > 0 {
					t.Errorf("sendmail left %q in the spool after the interrupt", queued)
				}
			},
		},
		{
			name:   "confirm",
			args:   func(bob string) []string { return []string{"keyring", "confirm", bob} },
			prompt: "Confirm? [y/N] ",
			unchanged: func(t *testing.T, home, bob, _ string) {
				e, found := findEntry(t, home, bob)
				if !found {
					t.Fatal("the key of bob@example.org is gone")
				}
				if e.Confirmed != nil {
					t.Error("the key of bob@example.org was confirmed after the interrupt")
				}
			},
		},
		{
			name:   "remove",
			args:   func(bob string) []string { return []string{"keyring", "remove", bob} },
			prompt: "[y/N] ",
			unchanged: func(t *testing.T, home, bob, _ string) {
				if _, found := findEntry(t, home, bob); !found {
					t.Error("the key of bob@example.org was removed after the interrupt")
				}
			},
		},
	}
	signals := []struct {
		name       string
		send       func(s *terminalSession)
		wantStatus int
	}{
		// Ctrl-C goes through the terminal, which sends SIGINT.
		{"ctrl-c", func(s *terminalSession) { s.typeText("\x03") }, 130},
		{"sigterm", func(s *terminalSession) {
			if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				s.t.Fatal(err)
			}
		}, 143},
	}

	for _, tt := range tests {
		for _, sig := range signals {
			t.Run(tt.name+" "+sig.name, func(t *testing.T) {
				home, bob := promptHome(t)
				s := startOnTerminal(t, home, tt.args(bob)...)
				if tt.input != "" {
					s.typeText(tt.input)
				}
				s.waitFor(tt.prompt)
				if tt.secret && s.echoOn() {
					t.Error("echo is on at the passphrase prompt")
				}

				sig.send(s)
				status, output, echo := s.finish()
				if status != sig.wantStatus {
					t.Errorf("exit status %d, want %d; output:\n%s", status, sig.wantStatus, output)
				}
				if !strings.Contains(output, "sealmail: interrupted, so nothing more was written or sent") {
					t.Errorf("output lacks the interrupt message:\n%s", output)
				}
				if !echo {
					t.Error("echo is off after the interrupt")
				}
				tt.unchanged(t, home, bob, output)
			})
		}
	}
}

func TestPromptPassphraseTyped(t *testing.T) {
	home := t.TempDir()
	s := startOnTerminal(t, home, "keyring", "generate", "typed@example.org")

	s.waitFor("Passphrase for the new key of typed@example.org: ")
	s.typeText("first try\n")
	s.waitFor("Repeat the passphrase: ")
	s.typeText("second try\n")
	s.waitFor("the two passphrases differ, try again")
	s.waitFor("Passphrase for the new key of typed@example.org: ")
	s.typeText("tea for two\n")
	s.waitFor("Repeat the passphrase: ")
	s.typeText("tea for two\n")

	status, output, echo := s.finish()
	if status != 0 {
		t.Fatalf("exit status %d; output:\n%s", status, output)
	}
	if !strings.Contains(output, "generated secret key") {
		t.Errorf("output lacks the generated key:\n%s", output)
	}
	for _, typed := range []string{"first try", "second try", "tea for two"} {
		if strings.Contains(output, typed) {
			t.Errorf("the passphrase %q was echoed:\n%s", typed, output)
		}
	}
	if !echo {
		t.Error("echo is off after the prompt")
	}

	// The passphrase typed is the one that protects the key.
	e, found := findEntry(t, home, "typed@example.org")
	if !found || !e.Secret {
		t.Fatalf("no secret key for typed@example.org was stored")
	}
	passphraseFile := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(passphraseFile, []byte("tea for two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, _, stderr := runCLI(t, home, "Hello.\n", "compose", "--sign", "--passphrase-file", passphraseFile,
		"--from", "typed@example.org", "--to", "bob@example.org", "--text", "-")
	if status != 0 {
		t.Errorf("compose --sign with the typed passphrase: exit status %d: %s", status, stderr)
	}
}
