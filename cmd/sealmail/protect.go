package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/term"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/keyring"
)

// composer resolves keys for m as the flags ask and returns the composer of
// its copies.
func (a *app) composer(h *home, m *compose.Message, f *messageFlags) (*compose.Composer, error) {
	mode, err := f.mode()
	if err != nil {
		return nil, err
	}
	kr, err := h.keyring()
	if err != nil {
		return nil, err
	}

	opts := compose.Options{Mode: mode, Keys: kr, NoEncryptToSelf: f.noEncryptToSelf}
	if mode != compose.EncryptOnly {
		signer, err := a.unlockedSigner(kr, m.From.Address, f.passphraseFile)
		if err != nil {
			return nil, err
		}
		opts.Signer = signer
	}
	return compose.New(m, opts)
}

// unlockedSigner returns the sender's secret key, unlocked with the
// passphrase from --passphrase-file, SEALMAIL_PASSPHRASE or the terminal.
func (a *app) unlockedSigner(kr *keyring.Keyring, address, passphraseFile string) (*openpgp.Entity, error) {
	signer, err := kr.SigningKey(address, time.Now())
	if err != nil {
		return nil, err
	}
	if !keyring.Locked(signer) {
		return signer, nil
	}

	passphrase, err := a.passphrase(address, passphraseFile)
	if err != nil {
		return nil, err
	}
	defer clear(passphrase)
	if err := keyring.Unlock(signer, passphrase); err != nil {
		if errors.Is(err, keyring.ErrWrongPassphrase) {
			return nil, fmt.Errorf("wrong passphrase for the secret key of %s (%X)", address, signer.PrimaryKey.Fingerprint)
		}
		return nil, err
	}
	return signer, nil
}

// passphrase reads the passphrase that unlocks the key of address.
func (a *app) passphrase(address, file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("failed to read the passphrase file: %w", err)
		}
		// Only the first line counts, so a file written by echo works.
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
	if v := a.getenv("SEALMAIL_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}

	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, fmt.Errorf("the secret key of %s is protected by a passphrase: give --passphrase-file FILE or set SEALMAIL_PASSPHRASE", address)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Passphrase for the key of %s: ", address)
	passphrase, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("failed to read the passphrase from the terminal: %w", err)
	}
	return passphrase, nil
}

// describeCopy names the recipients of a copy for progress and reports.
func describeCopy(c compose.Copy) string {
	if c.Bcc != "" {
		return "Bcc copy for " + c.Bcc
	}
	return "copy for " + strings.Join(c.Envelope.Recipients, ", ")
}
