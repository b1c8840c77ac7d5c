package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/keyring"
)

// sendmailComposer unlocks the sender's key and returns the composer of
// m's copies, signed and encrypted. When a recipient has no usable key, the
// policy of config.toml decides: require-encryption fails with exit status
// 67, and encrypt-if-possible signs only, with a warning that names each
// recipient without a key.
func (a *app) sendmailComposer(ctx context.Context, h *home, m *compose.Message, s *sendmailSettings) (*compose.Composer, error) {
	kr, err := h.keyring()
	if err != nil {
		return nil, exitWith(exitConfig, err)
	}
	mf := &s.message
	scheme, err := mf.scheme()
	if err != nil {
		return nil, exitWith(exitConfig, err)
	}
	if err := a.checkPassphraseSource(ctx, kr, scheme, m.From.Address, mf.passphraseFile.value); err != nil {
		return nil, exitWith(exitConfig, err)
	}

	// The key sources record what compose.New resolves, so that the keys in
	// use are checked as send checks them.
	var opts compose.Options
	var keys *recordingKeys
	var certs *recordingCertificates
	if scheme == compose.SMIME {
		opts, err = a.smimeComposeOptions(ctx, kr, m, mf, compose.SignAndEncrypt)
		if err == nil {
			certs = &recordingCertificates{source: opts.Certificates}
			opts.Certificates = certs
		}
	} else {
		keys = &recordingKeys{source: kr}
		opts = compose.Options{Mode: compose.SignAndEncrypt, Keys: keys}
		opts.Signer, err = a.unlockedSigner(ctx, kr, m.From.Address, mf.passphraseFile.value)
	}
	if err != nil {
		return nil, exitWith(sendmailStatusOf(ctx, err, exitConfig), fmt.Errorf("failed to use the sender's key: %w", err))
	}

	c, err := compose.New(ctx, m, opts)
	var missing *compose.RecipientError
	if errors.As(err, &missing) && senderKeyMissing(missing) {
		return nil, exitWith(exitConfig, fmt.Errorf("nothing was sent: %w", err))
	}
	if errors.As(err, &missing) && s.policy == "encrypt-if-possible" {
		a.progress("warning: sending the message signed but NOT encrypted (policy encrypt-if-possible), because not every recipient has a usable key:\n  %s",
			strings.Join(problemList(missing), "\n  "))
		opts.Mode = compose.SignOnly
		keys, certs = nil, nil
		c, err = compose.New(ctx, m, opts)
	}
	if errors.As(err, &missing) {
		return nil, exitWith(exitNoUser, fmt.Errorf("nothing was sent, because the policy in %s is require-encryption: %w", configFileName, err))
	}
	if err != nil {
		return nil, exitWith(sendmailStatusOf(ctx, err, exitTempFail), err)
	}
	if err := a.checkKeysInUse(ctx, kr, opts, keys, certs, m.From.Address, mf); err != nil {
		return nil, exitWith(exitNoUser, err)
	}
	return c, nil
}

// sendmailStatusOf returns the exit status of an error while protecting:
// 65 for an invalid message, 75 for an interruption (nothing was sent), and
// otherwise fallback.
func sendmailStatusOf(ctx context.Context, err error, fallback int) int {
	var input *compose.InputError
	switch {
	case errors.As(err, &input):
		return exitDataErr
	case ctx.Err() != nil:
		return exitTempFail
	}
	return fallback
}

// senderKeyMissing reports whether the sender's own key, for encryption to
// self, is among the problems. That is a problem of the sender's keyring,
// which no recipient's policy covers.
func senderKeyMissing(e *compose.RecipientError) bool {
	for _, p := range e.Problems {
		var keyErr *compose.KeyError
		if errors.As(p, &keyErr) && keyErr.Sender {
			return true
		}
	}
	return false
}

// problemList returns each problem of e as a line.
func problemList(e *compose.RecipientError) []string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return lines
}

// checkPassphraseSource fails when the sender's secret key is locked and
// no passphrase can be had: no passphrase_file, no SEALMAIL_PASSPHRASE and
// no terminal. The message on standard input is no place for one, so the
// error says how sendmail gets it.
func (a *app) checkPassphraseSource(ctx context.Context, kr *keyring.Keyring, scheme compose.Scheme, address, passphraseFile string) error {
	if passphraseFile != "" {
		return nil
	}
	if _, ok := a.lookupEnv("SEALMAIL_PASSPHRASE"); ok {
		return nil
	}
	if tty, ok := openTerminal(); ok {
		tty.Close()
		return nil
	}

	locked := false
	if scheme == compose.SMIME {
		id, err := kr.SMIMEIdentity(ctx, address, time.Now(), keyring.CertPolicy{Offline: true})
		locked = err == nil && id.Locked()
	} else {
		signer, err := kr.SigningKey(ctx, address, time.Now())
		locked = err == nil && keyring.Locked(signer)
	}
	if locked {
		return fmt.Errorf("the secret key of %s is protected by a passphrase, and there is no terminal to ask for it: set passphrase_file in %s to a file whose first line is the passphrase (mode 0600), or set SEALMAIL_PASSPHRASE", address, configFileName)
	}
	return nil
}
