package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/keyring"
)

// composer resolves keys for m as the flags ask and returns the composer of
// its copies.
func (a *app) composer(ctx context.Context, h *home, m *compose.Message, f *messageFlags) (*compose.Composer, error) {
	mode, err := f.mode()
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	kr, err := h.keyring()
	if err != nil {
		return nil, err
	}

	scheme, err := f.scheme()
	if err != nil {
		return nil, err
	}
	// The key sources record what compose.New resolves, so that the keys
	// in use are checked before anything is written.
	var opts compose.Options
	var keys *recordingKeys
	var certs *recordingCertificates
	if scheme == compose.SMIME {
		opts, err = a.smimeComposeOptions(ctx, kr, m, f, mode)
		if err == nil && opts.Certificates != nil {
			certs = &recordingCertificates{source: opts.Certificates}
			opts.Certificates = certs
		}
	} else {
		keys = &recordingKeys{source: kr}
		opts = compose.Options{Mode: mode, Keys: keys, NoEncryptToSelf: f.noEncryptToSelf}
		f.privacy.setOptions(&opts)
		if mode != compose.EncryptOnly {
			opts.Signer, err = a.unlockedSigner(ctx, kr, m.From.Address, f.passphraseFile.value)
		}
	}
	if err != nil {
		return nil, schemeHint(ctx, kr, scheme, m.From.Address, err)
	}
	c, err := compose.New(ctx, m, opts)
	if err != nil {
		return nil, schemeHint(ctx, kr, scheme, "", err)
	}
	if err := a.checkKeysInUse(ctx, kr, opts, keys, certs, m.From.Address, f); err != nil {
		return nil, err
	}
	return c, nil
}

// schemeHint adds to a "not found" error for an address the hint that the
// keyring contains a key of the other scheme for it, which users who mix
// OpenPGP and S/MIME hit: the default is --pgp, and --smime needs X.509.
// The address of a RecipientError's problems is taken from each problem.
func schemeHint(ctx context.Context, kr *keyring.Keyring, scheme compose.Scheme, address string, err error) error {
	other, flag := keyring.KindX509, "--smime"
	if scheme == compose.SMIME {
		other, flag = keyring.KindOpenPGP, "--pgp"
	}
	hint := func(address string, err error) error {
		if !errors.Is(err, keyring.ErrNotFound) {
			return err
		}
		entries, findErr := kr.Find(ctx, address, time.Now())
		if findErr != nil {
			return err
		}
		for _, e := range entries {
			if e.Kind == other {
				kind := "an X.509 certificate"
				if other == keyring.KindOpenPGP {
					kind = "an OpenPGP key"
				}
				return fmt.Errorf("%w (the keyring has %s for %s: send with %s)", err, kind, address, flag)
			}
		}
		return err
	}

	var recipients *compose.RecipientError
	if errors.As(err, &recipients) {
		problems := make([]error, len(recipients.Problems))
		for i, p := range recipients.Problems {
			problems[i] = p
			var keyErr *compose.KeyError
			if errors.As(p, &keyErr) {
				problems[i] = hint(keyErr.Address, p)
			}
		}
		return &compose.RecipientError{Problems: problems}
	}
	if address != "" {
		return hint(address, err)
	}
	return err
}

// unlockedSigner returns the sender's secret key, unlocked with the
// passphrase from --passphrase-file, SEALMAIL_PASSPHRASE or the terminal.
func (a *app) unlockedSigner(ctx context.Context, kr *keyring.Keyring, address, passphraseFile string) (*openpgp.Entity, error) {
	signer, err := kr.SigningKey(ctx, address, time.Now())
	if err != nil {
		return nil, err
	}
	if !keyring.Locked(signer) {
		return signer, nil
	}

	err = a.withPassphrase(ctx, address, passphraseFile, func(passphrase []byte) error {
		return keyring.Unlock(signer, passphrase)
	})
	if errors.Is(err, keyring.ErrWrongPassphrase) {
		return nil, fmt.Errorf("wrong passphrase for the secret key of %s (%X): %s", address, signer.PrimaryKey.Fingerprint, a.wrongPassphraseHint(passphraseFile))
	}
	if err != nil {
		return nil, err
	}
	return signer, nil
}

// withPassphrase calls unlock with the passphrase for the key of address,
// from passphraseFile, SEALMAIL_PASSPHRASE or the terminal. A passphrase
// typed at the terminal gets three tries, as with gpg; one from a file or the
// environment gets one. unlock reports a wrong passphrase with an error
// wrapping keyring.ErrWrongPassphrase.
func (a *app) withPassphrase(ctx context.Context, address, passphraseFile string, unlock func([]byte) error) error {
	for attempt := 1; ; attempt++ {
		passphrase, prompted, err := a.passphrase(ctx, address, passphraseFile)
		if err != nil {
			return err
		}
		err = unlock(passphrase)
		clear(passphrase)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, keyring.ErrWrongPassphrase):
			return err
		case prompted && attempt < 3:
			a.progress("wrong passphrase, try again")
		default:
			return err
		}
	}
}

// passphrase reads the passphrase that unlocks the key of address, and
// reports whether it was typed at a terminal prompt.
func (a *app) passphrase(ctx context.Context, address, file string) (passphrase []byte, prompted bool, err error) {
	if file != "" {
		line, err := a.readSecretFile("passphrase", file, a.settings.name("passphrase-file"))
		return line, false, err
	}
	if v, ok := a.lookupEnv("SEALMAIL_PASSPHRASE"); ok {
		// A trailing newline, as from $(cat file) with a stray line
		// break, is dropped as it is for --passphrase-file.
		v = strings.TrimSuffix(strings.TrimSuffix(v, "\n"), "\r")
		if v == "" {
			return nil, false, errEmptyPassphraseVariable
		}
		return []byte(v), false, nil
	}

	tty, ok := openTerminal()
	if !ok {
		return nil, false, fmt.Errorf("the secret key of %s is protected by a passphrase: give --passphrase-file FILE or set SEALMAIL_PASSPHRASE", address)
	}
	defer tty.Close()
	passphrase, err = readPassphrase(ctx, tty, fmt.Sprintf("Passphrase for the key of %s: ", address))
	if err != nil {
		return nil, false, err
	}
	return passphrase, true, nil
}

// wrongPassphraseHint names where the wrong passphrase of an OpenPGP key
// came from, in the order passphrase reads the sources, and what to do
// about it.
func (a *app) wrongPassphraseHint(file string) string {
	return a.wrongSecretHint("passphrase", file, "the one chosen when the key was made or last changed")
}

// wrongSecretHint names where the wrong secret came from, in the order
// passphrase reads the sources, and what to do about it. secret is what the
// key calls it, "passphrase" or "password", and right describes the right
// one for a user who typed it at the terminal.
func (a *app) wrongSecretHint(secret, file, right string) string {
	if file != "" {
		return fmt.Sprintf("the %s was read from %s (%s); write the right one on the first line of that file", secret, file, a.settings.name("passphrase-file"))
	}
	if _, ok := a.lookupEnv("SEALMAIL_PASSPHRASE"); ok {
		return fmt.Sprintf("the %s was read from SEALMAIL_PASSPHRASE; set it to the right one, or unset it to type the %s at the terminal", secret, secret)
	}
	return fmt.Sprintf("the %s was typed at the terminal 3 times; type %s", secret, right)
}

// readSecretFile returns the first line of file, which holds the secret
// named by what, such as "passphrase", and which setting names: a flag or a
// setting of config.toml. Only the first line counts, so that a file
// written by echo works. It warns when other users may read the file.
func (a *app) readSecretFile(what, file, setting string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read the %s file %s (%s): %v; check the path", what, file, setting, pathErrorCause(err))
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().Perm()&0o044 != 0 {
		a.progress("warning: other users may read the %s file %s (%s, mode %04o): run \"chmod 600 %s\"", what, file, setting, info.Mode().Perm(), file)
	}

	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("failed to read the %s file %s (%s): %v", what, file, setting, pathErrorCause(err))
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("the %s file %s is empty (%s): write the %s on its first line", what, file, setting, what)
	}
	return line, nil
}

// pathErrorCause returns the cause of a failed file operation without the
// operation and path that *fs.PathError adds, because the caller names the
// file.
func pathErrorCause(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// errEmptyPassphraseVariable rejects an empty SEALMAIL_PASSPHRASE, as from
// $(cat FILE) on a missing file, instead of treating it as unset.
var errEmptyPassphraseVariable = errors.New("SEALMAIL_PASSPHRASE is set but empty: set it to the passphrase, give --passphrase-file FILE, or unset it to type the passphrase at the terminal")

// describeCopy names the recipients of a copy for progress and reports.
func describeCopy(c compose.Copy) string {
	if c.Bcc != "" {
		return "Bcc copy for " + c.Bcc
	}
	return "copy for " + strings.Join(c.Envelope.Recipients, ", ")
}
