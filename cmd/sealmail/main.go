// Command sealmail composes email, protects it end to end with OpenPGP
// (PGP/MIME) or S/MIME, and sends it through Amazon SES or SMTP, or writes
// it to a local outbox.
//
// Run "sealmail help" for the commands. Exit status: 0 on success, 1 on
// failure, 2 on a usage error. "sealmail sendmail" uses the statuses of
// sysexits.h that sendmail's callers expect, such as 75 when a retry can
// help. A signal that stops a command sets the exit status to 128 plus the
// signal number: 130 for SIGINT, 143 for SIGTERM. The exception is send of
// several copies: when a signal stops it while it hands them over, it
// reports the copies and exits with 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/smtp"
)

const usageText = `sealmail composes email, protects it with OpenPGP or S/MIME and sends it through Amazon SES.

Usage:
  sealmail [--home DIR] COMMAND [flags] [arguments]

Commands:
  demo                      run the whole job in a new home, no AWS account needed
  keyring generate ADDRESS  make your own OpenPGP key, protected by a passphrase
  keyring import FILE...    import OpenPGP keys, X.509 certificates, PKCS#12 bundles
  keyring fetch ADDRESS...  look up OpenPGP keys in Web Key Directories and store them
  keyring refresh [ADDR...] look up the stored OpenPGP keys again and merge updates
  keyring trust FILE...     add X.509 trust anchors for S/MIME
  keyring list [ADDR...]    list the keys in the keyring; --status, --kind and --secret filter them
  keyring show QUERY        show the keys for an address, fingerprint or key ID
  keyring export QUERY      write a certificate (OpenPGP armor or X.509 PEM) to standard output;
                            --minimal writes the smallest OpenPGP certificate to share
  keyring remove FPR        remove a key (and its secret key) by full fingerprint
  keyring confirm FPR...    record that you checked the fingerprints of OpenPGP keys with their owners
  compose [message flags]   write the protected message to standard output
  send [message flags]      send the protected message (to the outbox unless --via)
  smtp-password --region R  print the SES SMTP password for the secret access key on standard input
  ses quota                 show the sending quota and status of the SES account
  ses require-tls SET       make SES deliver a configuration set's messages only over TLS
  ses check SET             report a configuration set's TLS policy and tracking
  queue list [--json]       list the messages waiting in the queue for a transport
  queue retry ID...         send the named queued messages again, failed or unconfirmed ones too
  queue flush               send every due message; fails unless the queue is empty after
  queue remove --yes ID...  delete queued messages without sending them
  sendmail [-t] [-f ADDR] [RCPT...]
                            protect and send the message on standard input, as a
                            drop-in for sendmail (settings from config.toml)

Run "sealmail COMMAND --help" for the flags of a command.
The home (--home, or SEALMAIL_HOME) contains the keyring, the outbox, the
spool and the sent copies. By default it is $XDG_DATA_HOME/sealmail.
`

// usageError is an invalid command line, which makes sealmail exit with
// status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// isUsageError reports whether err comes from a value the user typed on the
// command line: a bad flag, or a message or SES option the library rejected
// as invalid input.
func isUsageError(err error) bool {
	var usage *usageError
	var input *compose.InputError
	var option *ses.OptionError
	var smtpOption *smtp.OptionError
	return errors.As(err, &usage) || errors.As(err, &input) || errors.As(err, &option) || errors.As(err, &smtpOption)
}

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// app is one run of the command: its streams and its global settings.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	home   string
	// lookupEnv returns the value of an environment variable and whether
	// it is set, as os.LookupEnv does.
	lookupEnv func(string) (string, bool)
	// synopses contains the usage line of each command's flag set.
	synopses map[*flag.FlagSet]string
	// settings records the flags that took their value from config.toml.
	settings configSettings
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// getenv returns the value of an environment variable, or "" if it is not
// set.
func (a *app) getenv(key string) string {
	v, _ := a.lookupEnv(key)
	return v
}

// signalError is the cause of a run's context being cancelled by a signal.
type signalError struct{ signal syscall.Signal }

func (e *signalError) Error() string { return e.signal.String() + " signal received" }

// run executes the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(os.Interrupt, syscall.SIGTERM)
	defer stop()

	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	err := a.dispatch(ctx, args)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(stderr, "sealmail: interrupted, so nothing more was written or sent")
		// The exit status is the one a shell reports for a command killed
		// by the signal: 130 for SIGINT, 143 for SIGTERM.
		if status, ok := signalStatus(ctx); ok {
			return status
		}
		return 1
	}
	// sendmail's callers read its exit status.
	var sendmailErr *sendmailError
	if errors.As(err, &sendmailErr) {
		fmt.Fprintf(stderr, "sealmail: %s\n", printableLines(err.Error()))
		return sendmailErr.status
	}
	fmt.Fprintf(stderr, "sealmail: %s\n", printableLines(err.Error()))
	if hint := sendHint(err); hint != "" {
		fmt.Fprintf(stderr, "sealmail: hint: %s\n", hint)
	}
	if isUsageError(err) {
		fmt.Fprintln(stderr, `sealmail: run "sealmail help" for usage`)
		return 2
	}
	return 1
}

// signalStatus returns the exit status of a run stopped by a signal, 128
// plus the signal number, and reports false when no signal stopped ctx.
func signalStatus(ctx context.Context) (int, bool) {
	var sig *signalError
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &sig) {
		return 0, false
	}
	return 128 + int(sig.signal), true
}

// signalContext returns a context that the first of signals cancels, with
// a *signalError as its cause, and the function that stops the relay.
// Unlike signal.NotifyContext, whose cause is only text, the cause names
// the signal, so that run can pick the exit status.
func signalContext(signals ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	received := make(chan os.Signal, 1)
	signal.Notify(received, signals...)
	go func() {
		select {
		case s := <-received:
			sig, _ := s.(syscall.Signal)
			cancel(&signalError{signal: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(received)
		cancel(nil)
	}
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	global := flag.NewFlagSet("sealmail", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.StringVar(&a.home, "home", "", "the folder of the keyring, outbox and sent copies")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, usageText)
			return err
		}
		return usagef("%v", err)
	}
	args = global.Args()
	if len(args) == 0 {
		return usagef("missing command")
	}

	switch cmd, rest := args[0], args[1:]; cmd {
	case "help":
		fmt.Fprint(a.stdout, usageText)
		return nil
	case "demo":
		return a.demo(ctx, rest)
	case "keyring":
		return a.keyring(ctx, rest)
	case "ses":
		return a.ses(ctx, rest)
	case "compose":
		return a.compose(ctx, rest)
	case "smtp-password":
		return a.smtpPasswordCommand(ctx, rest)
	case "send":
		return a.send(ctx, rest)
	case "queue":
		return a.queue(ctx, rest)
	case "sendmail":
		return a.sendmail(ctx, rest)
	default:
		return usagef("unknown command %q", cmd)
	}
}

// newFlagSet returns a flag set for a command whose errors are returned, not
// printed, and whose -h prints the flags to standard output.
func (a *app) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The flag package calls Usage on every parse error too; help is printed
	// by parseFlags instead, only when it was asked for.
	fs.Usage = func() {}
	if a.synopses == nil {
		a.synopses = make(map[*flag.FlagSet]string)
	}
	a.synopses[fs] = synopsis
	return fs
}

// printFlags lists the flags of fs with two dashes, as the documentation
// writes them; the flag package accepts one or two.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintf(w, "\nFlags:\n")
			first = false
		}
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		fmt.Fprintf(w, "  --%s%s\n      %s\n", f.Name, name, usage)
	})
}

// parseFlags parses args, prints the help of the command for -h or --help,
// and turns a flag error into a usage error. Flags may also follow the
// arguments, as in "keyring list ADDRESS --json", because the flag package
// alone stops at the first argument and would read --json as a second one.
// After "--", every word is an argument. fs.Args returns the arguments.
func (a *app) parseFlags(fs *flag.FlagSet, args []string) error {
	if err := checkFlagValues(fs, args); err != nil {
		return err
	}
	var positional []string
	for {
		if err := a.parseSome(fs, args); err != nil {
			return err
		}
		rest := fs.Args()
		parsed := len(args) - len(rest)
		if len(rest) == 0 || endedByDoubleDash(fs, args[:parsed]) {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// The leading "--" keeps an argument such as "-x" from being read as a
	// flag on this last pass.
	return fs.Parse(append([]string{"--"}, positional...))
}

// checkFlagValues rejects a flag whose value is the name of another flag,
// as in "--subject --require-confirmed": the flag package would take the
// second flag for the subject and silently drop a safety flag. The
// form "--subject=--require-confirmed" sets such a value on purpose.
func checkFlagValues(fs *flag.FlagSet, args []string) error {
	for i := 0; i+1 < len(args); i++ {
		word := args[i]
		if word == "--" {
			return nil
		}
		if !strings.HasPrefix(word, "-") || strings.Contains(word, "=") {
			continue
		}
		f := fs.Lookup(strings.TrimLeft(word, "-"))
		if f == nil || isBoolFlag(f) {
			continue
		}
		next := args[i+1]
		name, _, _ := strings.Cut(strings.TrimLeft(next, "-"), "=")
		if strings.HasPrefix(next, "-") && name != "" && fs.Lookup(name) != nil {
			return usagef("%s: --%s takes a value, but the next word is the flag %s; give --%s its value, or write --%s=%s if you mean that text",
				fs.Name(), f.Name, next, f.Name, f.Name, next)
		}
		i++
	}
	return nil
}

// isBoolFlag reports whether f is a flag without a value, such as --json.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// endedByDoubleDash reports whether the flag package, having read the words
// consumed, stopped at "--", the end of the flags, rather than at an
// argument. A
// "--" that is the value of a flag, as in "--subject --", does not end
// them.
func endedByDoubleDash(fs *flag.FlagSet, consumed []string) bool {
	n := len(consumed)
	if n == 0 || consumed[n-1] != "--" {
		return false
	}
	if n == 1 {
		return true
	}
	prev := consumed[n-2]
	if !strings.HasPrefix(prev, "-") || strings.Contains(prev, "=") {
		return true
	}
	f := fs.Lookup(strings.TrimLeft(prev, "-"))
	if f == nil {
		return true
	}
	// A flag that takes a value took the "--" as its value.
	return isBoolFlag(f)
}

// singleDashFlag matches the flag names in the flag package's errors, which
// it writes with one dash, as in "flag needs an argument: -status".
var singleDashFlag = regexp.MustCompile(`(^| )-([A-Za-z][A-Za-z0-9-]*)`)

// parseSome parses args with fs up to the first argument.
func (a *app) parseSome(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(a.stdout, "Usage: sealmail %s\n", a.synopses[fs])
		printFlags(a.stdout, fs)
		return err
	case strings.Contains(err.Error(), "not defined: -home"):
		return usagef("%s: --home goes before the command: sealmail --home DIR %s ...", fs.Name(), fs.Name())
	default:
		return usagef("%s: %s", fs.Name(), singleDashFlag.ReplaceAllString(err.Error(), "$1--$2"))
	}
}

// progress prints a line of progress to standard error.
func (a *app) progress(format string, args ...any) {
	fmt.Fprintf(a.stderr, "sealmail: %s\n", printableLines(fmt.Sprintf(format, args...)))
}

// step prints a line of progress on long work, only when standard error is a
// terminal, so that scripts and cron jobs see errors alone.
func (a *app) step(format string, args ...any) {
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		a.progress(format, args...)
	}
}
