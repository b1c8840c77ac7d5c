package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/crypto/smime"
	"github.com/sealmail/sealmail/keyring"
)

// certSource resolves S/MIME recipients in the keyring with one trust
// policy, for compose.
type certSource struct {
	kr     *keyring.Keyring
	policy keyring.CertPolicy
}

func (s certSource) RecipientCertificate(ctx context.Context, address string, now time.Time) (*x509.Certificate, error) {
	return s.kr.RecipientCertificate(ctx, address, now, s.policy)
}

// smimeComposeOptions returns the compose options for S/MIME: the sender's
// identity unlocked when signing, and the keyring as certificate source.
func (a *app) smimeComposeOptions(ctx context.Context, kr *keyring.Keyring, m *compose.Message, f *messageFlags, mode compose.Mode) (compose.Options, error) {
	smimeOpts, err := f.smimeOptions()
	if err != nil {
		return compose.Options{}, err
	}
	policy := keyring.CertPolicy{
		SystemRoots:            f.systemRoots,
		RequireRevocationCheck: f.requireRevocation,
		Warn:                   func(msg string) { a.progress("warning: %s", msg) },
	}
	opts := compose.Options{
		Mode:            mode,
		Scheme:          compose.SMIME,
		Certificates:    certSource{kr: kr, policy: policy},
		SMIME:           smimeOpts,
		NoEncryptToSelf: f.noEncryptToSelf,
	}
	f.privacy.setOptions(&opts)
	if mode == compose.EncryptOnly {
		return opts, nil
	}

	id, err := kr.SMIMEIdentity(ctx, m.From.Address, time.Now(), policy)
	if err != nil {
		return compose.Options{}, err
	}
	key, err := a.unlockIdentity(ctx, id, m.From.Address, f.passphraseFile.value)
	if err != nil {
		return compose.Options{}, err
	}
	opts.SMIMESigner = &smime.Signer{Certificate: id.Certificate, Chain: id.Chain, Key: key}
	return opts, nil
}

// unlockIdentity decrypts the PKCS#12 bundle of an S/MIME identity with the
// password from --passphrase-file, SEALMAIL_PASSPHRASE or the terminal.
func (a *app) unlockIdentity(ctx context.Context, id *keyring.Identity, address, passphraseFile string) (crypto.Signer, error) {
	if !id.Locked() {
		return id.Unlock(nil)
	}
	var key crypto.Signer
	err := a.withPassphrase(ctx, address, passphraseFile, func(password []byte) error {
		var err error
		key, err = id.Unlock(password)
		return err
	})
	if errors.Is(err, keyring.ErrWrongPassphrase) {
		hint := a.wrongSecretHint("password", passphraseFile, "the one its PKCS#12 bundle was imported with")
		return nil, fmt.Errorf("wrong password for the S/MIME identity of %s (%s): %s", address, id.Certificate.Subject.CommonName, hint)
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}
