package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/sealmail/sealmail/keyring"
)

const generateSynopsis = "keyring generate [--name NAME] [--algorithm ed25519|rsa3072|rsa4096] [--v6] [--expires DURATION|never] [--passphrase-file FILE] [--force] ADDRESS"

func (a *app) keyringGenerate(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring generate", generateSynopsis)
	var name, algorithm, expires, passphraseFile onceFlag
	fs.Var(&name, "name", "the display name of the user ID, as in `NAME` <ADDRESS>; none by default")
	fs.Var(&algorithm, "algorithm", "the key `ALGORITHM`: ed25519 (default), rsa3072 or rsa4096")
	v6 := fs.Bool("v6", false, "make an RFC 9580 version 6 key, which GnuPG 2.2 cannot read")
	fs.Var(&expires, "expires", "when the key expires: `DURATION` in days, weeks or years (90d, 12w, 2y), a date (2030-12-31), or never (the default)")
	fs.Var(&passphraseFile, "passphrase-file", "read the passphrase that protects the secret key from the first line of `FILE` (or set SEALMAIL_PASSPHRASE)")
	force := fs.Bool("force", false, "make a new key even if the address has a usable secret key")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("keyring generate: give one ADDRESS, such as alice@example.org")
	}
	address := fs.Arg(0)
	// The keyring checks the address too, but an invalid one is a usage
	// error, found before the passphrase prompt.
	if parsed, err := mail.ParseAddress(address); err != nil || parsed.Address != address || parsed.Name != "" {
		return usagef("keyring generate: invalid address %q: give the bare form, such as alice@example.org, and the name with --name", address)
	}

	now := time.Now()
	opts := keyring.SecretKeyOptions{AllowExisting: *force}
	opts.Now = now
	opts.V6 = *v6
	switch algorithm.value {
	case "", "ed25519":
	case "rsa3072":
		opts.RSABits = 3072
	case "rsa4096":
		opts.RSABits = 4096
	default:
		return usagef("keyring generate: unknown --algorithm %q: use ed25519, rsa3072 or rsa4096", algorithm.value)
	}
	lifetime, err := parseExpiry(expires.value, now)
	if err != nil {
		return usagef("keyring generate: %v", err)
	}
	opts.Lifetime = lifetime

	kr, err := a.openKeyring()
	if err != nil {
		return err
	}
	passphrase, err := a.newPassphrase(ctx, address, passphraseFile.value)
	if err != nil {
		return err
	}
	defer clear(passphrase)

	if opts.RSABits != 0 {
		a.step("generating an RSA-%d key; this may take a few seconds", opts.RSABits)
	}
	imported, e, err := kr.GenerateSecretKey(ctx, name.value, address, passphrase, opts)
	switch {
	case errors.Is(err, keyring.ErrSecretKeyExists):
		return fmt.Errorf("%w; give --force to make another key, which is then used to sign instead", err)
	case errors.Is(err, keyring.ErrEmptyPassphrase):
		return fmt.Errorf("%w; sealmail protects every secret key with a passphrase: set a non-empty one", err)
	case err != nil:
		return err
	}

	fmt.Fprintf(a.stdout, "generated secret key %s %s\n", strings.ToUpper(imported.Fingerprint), printableList(imported.UserIDs))
	if lifetime > 0 {
		expiry := e.PrimaryKey.CreationTime.Add(lifetime)
		fmt.Fprintf(a.stdout, "it expires on %s\n", expiry.UTC().Format(time.DateOnly))
	}
	if *v6 {
		a.progress("note: GnuPG 2.2 and other programs that predate RFC 9580 cannot read this v6 key")
	}
	fmt.Fprintf(a.stdout, "share your public key with: sealmail keyring export --minimal %s\n", address)
	return nil
}

// parseExpiry returns the key lifetime for value: "" or "never"
// for none, a number of days, weeks or years ("90d", "12w", "2y"), or a date
// ("2030-12-31", the end of that day in UTC).
func parseExpiry(value string, now time.Time) (time.Duration, error) {
	if value == "" || value == "never" {
		return 0, nil
	}
	if date, err := time.Parse(time.DateOnly, value); err == nil {
		end := date.Add(24 * time.Hour)
		if !end.After(now) {
			return 0, fmt.Errorf("invalid --expires %q: the date is in the past", value)
		}
		return end.Sub(now).Truncate(time.Second), nil
	}

	const day = 24 * time.Hour
	units := map[byte]time.Duration{'d': day, 'w': 7 * day, 'y': 365 * day}
	unit, ok := units[value[len(value)-1]]
	count, err := strconv.Atoi(value[:len(value)-1])
	if !ok || err != nil || count < 1 {
		return 0, fmt.Errorf("invalid --expires %q: use a number of days, weeks or years such as 90d, 12w or 2y, a date such as 2030-12-31, or never", value)
	}
	// An OpenPGP key lifetime is at most 2^32-1 seconds, about 136 years.
	if count > int(math.MaxUint32*time.Second/unit) {
		return 0, fmt.Errorf("invalid --expires %q: the maximum lifetime is 136 years", value)
	}
	return time.Duration(count) * unit, nil
}

// newPassphrase returns the passphrase that protects a new secret key for
// address: from passphraseFile, SEALMAIL_PASSPHRASE, or typed twice at the
// terminal. An empty passphrase is rejected.
func (a *app) newPassphrase(ctx context.Context, address, passphraseFile string) ([]byte, error) {
	if _, set := a.lookupEnv("SEALMAIL_PASSPHRASE"); passphraseFile != "" || set {
		passphrase, _, err := a.passphrase(ctx, address, passphraseFile)
		return passphrase, err
	}

	tty, ok := openTerminal()
	if !ok {
		return nil, fmt.Errorf("the new secret key needs a passphrase, but there is no terminal for the prompt: pass --passphrase-file FILE or set SEALMAIL_PASSPHRASE")
	}
	defer tty.Close()

	// Three tries, for a typo or an empty line.
	for attempt := 1; ; attempt++ {
		first, err := readPassphrase(ctx, tty, fmt.Sprintf("Passphrase for the new key of %s: ", address))
		if err != nil {
			return nil, err
		}
		var problem string
		if len(first) == 0 {
			problem = "the passphrase is empty; sealmail protects every secret key with a passphrase"
		} else {
			second, err := readPassphrase(ctx, tty, "Repeat the passphrase: ")
			if err != nil {
				clear(first)
				return nil, err
			}
			if bytes.Equal(first, second) {
				clear(second)
				return first, nil
			}
			clear(second)
			problem = "the two passphrases differ"
		}
		clear(first)
		if attempt == 3 {
			return nil, fmt.Errorf("%s; no key was generated", problem)
		}
		fmt.Fprintf(tty, "%s, try again\n", problem)
	}
}
