package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/sealmail/sealmail/transport/smtp"
)

// smtpFlags are the flags of send --via smtp.
type smtpFlags struct {
	host, port, tlsMode  onceFlag
	user, passwordFile   onceFlag
	certificateAuthority onceFlag
	// settings records the flags that took their value from config.toml.
	settings configSettings
}

func (f *smtpFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.host, "smtp-host", "the SMTP server `host` (default with --region: email-smtp.REGION.amazonaws.com, the SES SMTP endpoint)")
	fs.Var(&f.port, "smtp-port", "the SMTP `port`: 587 (the default), 25 and 2587 use STARTTLS, 465 and 2465 implicit TLS")
	fs.Var(&f.tlsMode, "smtp-tls", "the TLS `mode`: starttls or implicit (required for ports other than 25, 465, 587, 2465, 2587); none sends plain SMTP, only to a loopback address")
	fs.Var(&f.user, "smtp-user", "the SMTP user `name`; for SES, the access key ID of the IAM user")
	fs.Var(&f.passwordFile, "smtp-password-file", "read the SMTP password from the first line of `FILE` (or set SEALMAIL_SMTP_PASSWORD); for SES, make it with sealmail smtp-password")
	fs.Var(&f.certificateAuthority, "smtp-ca-file", "trust only the CA certificates in `FILE` (PEM) for the SMTP server, instead of the system's roots")
}

// set reports whether any SMTP flag was given.
func (f *smtpFlags) set() bool {
	return f.host.set || f.port.set || f.tlsMode.set || f.user.set || f.passwordFile.set || f.certificateAuthority.set
}

// check rejects SMTP flags that cannot work, before any key is unlocked.
// region is the value of --region, which names the SES SMTP endpoint when
// --smtp-host is not given.
func (f *smtpFlags) check(region string) error {
	if !f.host.set && region == "" {
		if f.settings.fromConfig("via") {
			return usagef("via = \"smtp\" in %s needs host in [smtp], or region in [ses] for the SES SMTP endpoint", configFileName)
		}
		return usagef("--via smtp needs --smtp-host HOST, or --region REGION for the SES SMTP endpoint")
	}
	if f.port.set {
		if _, err := strconv.Atoi(f.port.value); err != nil {
			return usagef("invalid --smtp-port %q: give a port number such as 587", f.port.value)
		}
	}
	switch f.tlsMode.value {
	case "", "starttls", "implicit", "none":
	default:
		return usagef("invalid --smtp-tls %q: use starttls or implicit", f.tlsMode.value)
	}
	return nil
}

// smtpOptions turns the flags, SEALMAIL_SMTP_PASSWORD and region into options
// of the SMTP transport. Its errors name the setting of config.toml that a
// value came from, or else the flag.
func (a *app) smtpOptions(f *smtpFlags, region string) (smtp.Options, error) {
	var opts smtp.Options
	opts.Host = f.host.value
	if opts.Host == "" {
		host, err := smtp.SESHost(region)
		if err != nil {
			return opts, usagef("%v (%s)", err, f.settings.name("region"))
		}
		opts.Host = host
	}
	if f.port.set {
		opts.Port, _ = strconv.Atoi(f.port.value)
	}
	switch f.tlsMode.value {
	case "none":
		opts.Insecure = true
	default:
		opts.TLS = smtp.TLSMode(f.tlsMode.value)
	}
	if _, known := smtp.ModeForPort(opts.Port); opts.Port != 0 && !known && !f.tlsMode.set {
		return opts, usagef("missing TLS mode for SMTP port %d (%s): %s, because only the ports 25, 587, 2587 (STARTTLS) and 465, 2465 (implicit TLS) imply one",
			opts.Port, f.settings.name("smtp-port"), f.tlsModeHint())
	}

	opts.Username = f.user.value
	password, err := a.smtpPassword(f)
	if err != nil {
		return opts, err
	}
	opts.Password = password
	if opts.Username == "" && opts.Password != "" {
		user := "--smtp-user USER"
		if f.settings.fromConfig("smtp-password-file") {
			user = "user in [smtp] of " + configFileName
		}
		return opts, usagef("an SMTP password was given without a user name: set %s (for SES, the user name is the access key ID)", user)
	}
	if opts.Username != "" && opts.Password == "" {
		password := "give --smtp-password-file FILE"
		if f.settings.fromConfig("smtp-user") {
			password = "set password_file in [smtp] of " + configFileName
		}
		return opts, usagef("missing SMTP password for the user %q (%s): %s, or set SEALMAIL_SMTP_PASSWORD", opts.Username, f.settings.name("smtp-user"), password)
	}

	if f.certificateAuthority.set {
		pool, err := readCertificatePool(f.certificateAuthority.value, f.settings.name("smtp-ca-file"))
		if err != nil {
			return opts, err
		}
		opts.RootCAs = pool
	}
	return opts, nil
}

// tlsModeHint returns how to choose the TLS mode: in config.toml when the
// port came from there, and with --smtp-tls otherwise.
func (f *smtpFlags) tlsModeHint() string {
	if f.settings.fromConfig("smtp-port") {
		return fmt.Sprintf("set tls in [smtp] of %s to \"starttls\" or \"implicit\"", configFileName)
	}
	return "give --smtp-tls starttls or --smtp-tls implicit"
}

// smtpPassword reads the SMTP password from --smtp-password-file (or
// password_file of config.toml) or SEALMAIL_SMTP_PASSWORD, or returns ""
// when neither is given.
func (a *app) smtpPassword(f *smtpFlags) (string, error) {
	if f.passwordFile.set {
		line, err := a.readSecretFile("SMTP password", f.passwordFile.value, f.settings.name("smtp-password-file"))
		if err != nil {
			return "", err
		}
		return string(line), nil
	}
	if v, ok := a.lookupEnv("SEALMAIL_SMTP_PASSWORD"); ok {
		v = strings.TrimSuffix(strings.TrimSuffix(v, "\n"), "\r")
		if v == "" {
			return "", errors.New("SEALMAIL_SMTP_PASSWORD is set but empty: set it to the SMTP password, or give --smtp-password-file FILE")
		}
		return v, nil
	}
	return "", nil
}

// readCertificatePool reads PEM certificates from file, which setting names,
// into a new pool.
func readCertificatePool(file, setting string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read the CA file %s (%s): %v; check the path", file, setting, pathErrorCause(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("invalid CA file %s (%s): it contains no PEM certificate", file, setting)
	}
	return pool, nil
}

// smtpTransport makes the SMTP transport that the send flags describe,
// paced to --rate when it is given.
func (a *app) smtpTransport(sf *sendFlags) (*smtp.Transport, error) {
	opts, err := a.smtpOptions(&sf.smtp, sf.region.value)
	if err != nil {
		return nil, err
	}
	if opts.MaxSendRate, err = sf.rateValue(); err != nil {
		return nil, err
	}
	t, err := smtp.New(opts)
	if err != nil && sf.smtp.settings.fromConfig("smtp-host") {
		return nil, fmt.Errorf("%w (the SMTP settings come from [smtp] of %s)", err, configFileName)
	}
	if err != nil {
		return nil, err
	}
	if t.Insecure() {
		a.progress("warning: sending over plain SMTP without TLS to %s, which is allowed only on loopback, for emulators and tests", t.Addr())
	}
	return t, nil
}

// smtpPasswordCommand prints the SES SMTP password that an IAM secret access
// key gives for a region. The key comes from AWS_SECRET_ACCESS_KEY or the
// first line of standard input, never from an argument, so that it does not
// show in the process list or the shell history.
func (a *app) smtpPasswordCommand(ctx context.Context, args []string) error {
	fs := a.newFlagSet("smtp-password", "smtp-password --region REGION < SECRET-KEY-FILE")
	var region onceFlag
	fs.Var(&region, "region", "the AWS `region` of the SES SMTP endpoint, such as eu-central-1; the password works only there")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// The argument is not shown, because it may be the secret.
		return usagef("smtp-password: unexpected argument; give the secret access key on standard input or in AWS_SECRET_ACCESS_KEY, never on the command line")
	}
	if !region.set {
		return usagef("smtp-password: missing --region: the SMTP password is valid only for the endpoint of one region")
	}
	if _, err := smtp.SESHost(region.value); err != nil {
		return usagef("smtp-password: %v", err)
	}

	secret, err := a.secretAccessKey(ctx)
	if err != nil {
		return err
	}
	password, err := smtp.SESPassword(secret, region.value)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, password)
	return nil
}

// secretAccessKey reads the IAM secret access key from AWS_SECRET_ACCESS_KEY,
// or else from the first line of standard input, with echo turned off when
// standard input is a terminal.
func (a *app) secretAccessKey(ctx context.Context) (string, error) {
	if v, ok := a.lookupEnv("AWS_SECRET_ACCESS_KEY"); ok && v != "" {
		return strings.TrimSpace(v), nil
	}

	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty, ok := openTerminal()
		if ok {
			defer tty.Close()
			line, err := readPassphrase(ctx, tty, "Secret access key: ")
			return strings.TrimSpace(string(line)), err
		}
	}
	line, err := readLine(a.stdin)
	if err != nil && len(line) == 0 {
		return "", errors.New("missing secret access key: write it on standard input or set AWS_SECRET_ACCESS_KEY")
	}
	return strings.TrimSpace(string(line)), nil
}
