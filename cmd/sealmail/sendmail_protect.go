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

// sendmailComposers unlocks the sender's key and returns the composers of
// m's copies, signed and encrypted. When a recipient has no usable key, the
// policy of config.toml decides. require-encryption fails with exit status
// 67. encrypt-if-possible signs only the copy for the recipients without a
// key, with a warning that names each of them, and encrypts the copies for
// the others as usual.
func (a *app) sendmailComposers(ctx context.Context, h *home, m *compose.Message, s *sendmailSettings) ([]*compose.Composer, error) {
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
		mf.privacy.setOptions(&opts)
		opts.Signer, err = a.unlockedSigner(ctx, kr, m.From.Address, mf.passphraseFile.value)
	}
	if err != nil {
		return nil, exitWith(sendmailStatusOf(ctx, err, exitConfig), fmt.Errorf("failed to use the sender's key: %w", err))
	}

	composers := make([]*compose.Composer, 0, 2)
	c, err := compose.New(ctx, m, opts)
	var missing *compose.RecipientError
	switch {
	case errors.As(err, &missing) && senderKeyMissing(missing):
		return nil, exitWith(exitConfig, fmt.Errorf("nothing was sent: %w", err))
	case errors.As(err, &missing) && s.policy == "encrypt-if-possible":
		encrypted, signed, err := a.splitByKeys(ctx, m, opts, missing)
		if err != nil {
			return nil, exitWith(sendmailStatusOf(ctx, err, exitTempFail), err)
		}
		if encrypted == nil {
			keys, certs = nil, nil
		} else {
			composers = append(composers, encrypted)
		}
		composers = append(composers, signed)
	case errors.As(err, &missing):
		return nil, exitWith(exitNoUser, fmt.Errorf("nothing was sent, because the policy in %s is require-encryption: %w", configFileName, err))
	case err != nil:
		return nil, exitWith(sendmailStatusOf(ctx, err, exitTempFail), err)
	default:
		composers = append(composers, c)
	}
	if err := a.checkKeysInUse(ctx, kr, opts, keys, certs, m.From.Address, mf); err != nil {
		return nil, exitWith(exitNoUser, err)
	}
	return composers, nil
}

// splitByKeys returns, under the policy encrypt-if-possible, the composer of
// the encrypted copies for the recipients of m with a usable key, and the
// composer of the signed copy for those without one, which missing names. The
// encrypted composer is nil when no recipient has a key, or when the
// recipients without one cannot be matched to the envelope recipients. Then
// every copy is signed only. It warns which recipients get the message
// signed but not encrypted.
//
// Each composer decides its copies as compose does for one message: the
// recipients with a key that To or Cc name share an encrypted copy, and every
// other one gets an encrypted copy of its own. The recipients without a key
// share one signed copy, whose header does not name the Bcc recipients.
func (a *app) splitByKeys(ctx context.Context, m *compose.Message, opts compose.Options, missing *compose.RecipientError) (encrypted, signed *compose.Composer, err error) {
	keyless, withKeys, ok := partitionRecipients(m.Recipients, missing)
	signedOnly := *m
	signOpts := opts
	signOpts.Mode = compose.SignOnly
	if ok && len(withKeys) > 0 {
		encryptedPart := *m
		encryptedPart.Recipients = withKeys
		encrypted, err = compose.New(ctx, &encryptedPart, opts)
		var again *compose.RecipientError
		switch {
		case errors.As(err, &again):
			// Another key failed on the second lookup: every copy is
			// signed only, as when no recipient has a key.
			encrypted = nil
		case err != nil:
			return nil, nil, err
		default:
			signedOnly.Recipients = keyless
		}
	}

	signed, err = compose.New(ctx, &signedOnly, signOpts)
	if err != nil {
		return nil, nil, err
	}
	problems := strings.Join(problemList(missing), "\n  ")
	if encrypted == nil {
		a.progress("warning: sending the message to every recipient signed but NOT encrypted (policy encrypt-if-possible), so its body and Subject can be read on the way. Not every recipient has a usable key:\n  %s", problems)
		return nil, signed, nil
	}
	a.progress("warning: sending the message to %s signed but NOT encrypted (policy encrypt-if-possible), so its body and Subject can be read on the way, while the copies for the other recipients are encrypted. These recipients have no usable key:\n  %s",
		strings.Join(keyless, ", "), problems)
	return encrypted, signed, nil
}

// partitionRecipients splits the envelope recipients into those that
// missing names, with no usable key, and the others. It reports false when a
// problem names no recipient, or one that is not among recipients.
func partitionRecipients(recipients []string, missing *compose.RecipientError) (keyless, withKeys []string, ok bool) {
	without := map[string]bool{}
	for _, p := range missing.Problems {
		var keyErr *compose.KeyError
		if !errors.As(p, &keyErr) || keyErr.Sender {
			return nil, nil, false
		}
		without[strings.ToLower(keyErr.Address)] = true
	}

	found := map[string]bool{}
	for _, r := range recipients {
		// The problems name addresses as compose normalized them, with
		// the domain in punycode.
		list, err := compose.ParseAddressList(r)
		if err != nil || len(list) != 1 {
			return nil, nil, false
		}
		address := strings.ToLower(list[0].Address)
		if without[address] {
			keyless = append(keyless, r)
			found[address] = true
		} else {
			withKeys = append(withKeys, r)
		}
	}
	return keyless, withKeys, len(found) == len(without)
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
// error names the two ways sendmail can get it: passphrase_file and
// SEALMAIL_PASSPHRASE.
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
