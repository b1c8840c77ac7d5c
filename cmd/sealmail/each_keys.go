package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/keyring"
)

// eachComposer builds the copies of send --each: the message with one To
// recipient each, protected with keys that were looked up once for the
// whole list. It is safe for concurrent use.
type eachComposer struct {
	message *compose.Message
	opts    compose.Options
}

// compose returns the composer of the copy for one recipient. Its only copy
// is encrypted to that recipient and, unless --no-encrypt-to-self, the
// sender.
func (e *eachComposer) compose(ctx context.Context, to *mail.Address) (*compose.Composer, error) {
	m := *e.message
	m.To = []*mail.Address{to}
	return compose.New(ctx, &m, e.opts)
}

// newEachComposer checks m with the first recipient, looks up the key of
// every recipient and of the sender, and fails when any is missing, before
// it unlocks the sender's secret key. It then checks the keys in use as send
// does, with the warnings capped.
func (a *app) newEachComposer(ctx context.Context, h *home, m *compose.Message, f *messageFlags, name string, list []eachRecipient) (*eachComposer, error) {
	mode, err := f.mode()
	if err != nil {
		return nil, err
	}
	scheme, err := f.scheme()
	if err != nil {
		return nil, err
	}
	probe := *m
	probe.To = []*mail.Address{list[0].address}
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	kr, err := h.keyring()
	if err != nil {
		return nil, err
	}

	resolved := &resolvedKeys{}
	if mode != compose.SignOnly {
		if err := a.resolveEachKeys(ctx, kr, scheme, f, m.From.Address, name, list, resolved); err != nil {
			return nil, err
		}
	}

	var opts compose.Options
	if scheme == compose.SMIME {
		opts, err = a.smimeComposeOptions(ctx, kr, m, f, mode)
		opts.Certificates = resolved.certificateSource(opts.Certificates)
	} else {
		opts = compose.Options{Mode: mode, Keys: resolved.keySource(kr), NoEncryptToSelf: f.noEncryptToSelf}
		if mode != compose.EncryptOnly {
			opts.Signer, err = a.unlockedSigner(ctx, kr, m.From.Address, f.passphraseFile.value)
		}
	}
	if err != nil {
		return nil, schemeHint(ctx, kr, scheme, m.From.Address, err)
	}

	if err := a.checkEachKeys(ctx, kr, opts, resolved, m.From.Address, f); err != nil {
		return nil, err
	}
	return &eachComposer{message: m, opts: opts}, nil
}

// resolveEachKeys looks up the key or certificate of every recipient and of
// the sender, on every core, into resolved. It returns one error that lists
// each recipient without a usable key, with its line in the file.
func (a *app) resolveEachKeys(ctx context.Context, kr *keyring.Keyring, scheme compose.Scheme, f *messageFlags, sender, name string, list []eachRecipient, resolved *resolvedKeys) error {
	now := time.Now()
	var lookup func(context.Context, string) error
	if scheme == compose.SMIME {
		policy := keyring.CertPolicy{
			SystemRoots:            f.systemRoots,
			RequireRevocationCheck: f.requireRevocation,
			Warn:                   func(msg string) { a.progress("warning: %s", msg) },
		}
		resolved.certs = &recordingCertificates{source: certSource{kr: kr, policy: policy}}
		lookup = func(ctx context.Context, address string) error {
			cert, err := resolved.certs.RecipientCertificate(ctx, address, now)
			if err == nil {
				resolved.storeCertificate(address, cert)
			}
			return err
		}
	} else {
		resolved.keys = &recordingKeys{source: kr}
		lookup = func(ctx context.Context, address string) error {
			key, err := resolved.keys.EncryptionKey(ctx, address, now)
			if err == nil {
				resolved.storeKey(address, key)
			}
			return err
		}
	}

	addresses := make([]string, len(list), len(list)+1)
	for i, r := range list {
		addresses[i] = r.address.Address
	}
	if !f.noEncryptToSelf {
		addresses = append(addresses, sender)
	}
	problems := make([]error, len(addresses))
	err := forEachIndex(ctx, len(addresses), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		if err := lookup(ctx, addresses[i]); err != nil {
			problems[i] = &compose.KeyError{Address: addresses[i], Sender: i == len(list), Err: err}
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}

	var found []error
	var indexes []int
	for i, p := range problems {
		if p != nil {
			found = append(found, p)
			indexes = append(indexes, i)
		}
	}
	if len(found) == 0 {
		return nil
	}
	hinted := schemeHint(ctx, kr, scheme, "", &compose.RecipientError{Problems: found})
	if re, ok := hinted.(*compose.RecipientError); ok {
		found = re.Problems
	}
	text := make([]string, len(found))
	for i, p := range found {
		if index := indexes[i]; index < len(list) {
			text[i] = fmt.Sprintf("line %d: %v", list[index].line, p)
		} else {
			text[i] = p.Error()
		}
	}
	return fmt.Errorf("no usable encryption key for %d of the %d recipients in %s and the sender, so nothing was sent:\n  %s",
		len(found), len(list), name, strings.Join(capList(text, maxListedProblems), "\n  "))
}

// checkEachKeys runs the check of the keys in use that send runs, and prints
// at most maxListedProblems of its warnings, because a list of thousands of
// recipients may give a warning for each.
func (a *app) checkEachKeys(ctx context.Context, kr *keyring.Keyring, opts compose.Options, resolved *resolvedKeys, sender string, f *messageFlags) error {
	var warnings bytes.Buffer
	quiet := *a
	quiet.stderr = &warnings
	err := quiet.checkKeysInUse(ctx, kr, opts, resolved.keys, resolved.certs, sender, f)

	lines := strings.Split(strings.TrimSuffix(warnings.String(), "\n"), "\n")
	if warnings.Len() > 0 {
		for _, line := range lines[:min(len(lines), maxListedProblems)] {
			fmt.Fprintln(a.stderr, line)
		}
		if more := len(lines) - maxListedProblems; more > 0 {
			a.progress("... and %d more %s like these", more, plural(more, "warning", "warnings"))
		}
	}
	if err != nil {
		return capIndentedLines(err, maxListedProblems)
	}
	return nil
}

// capIndentedLines shortens an error that lists one item an indented line,
// as the error of --require-confirmed does, to limit items.
func capIndentedLines(err error, limit int) error {
	var out, items []string
	flush := func() {
		for _, item := range capList(items, limit) {
			if !strings.HasPrefix(item, "  ") {
				item = "  " + item
			}
			out = append(out, item)
		}
		items = nil
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "  ") {
			items = append(items, line)
			continue
		}
		flush()
		out = append(out, line)
	}
	flush()
	return fmt.Errorf("%s", strings.Join(out, "\n"))
}

// resolvedKeys contains the key or certificate found for each address, so
// that compose.New, called once per recipient, does not look them up again.
// keys and certs record them for the check of the keys in use.
type resolvedKeys struct {
	keys  *recordingKeys
	certs *recordingCertificates

	mu           sync.Mutex
	byAddress    map[string]*openpgp.Entity
	certificates map[string]*x509.Certificate
}

func (r *resolvedKeys) storeKey(address string, key *openpgp.Entity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byAddress == nil {
		r.byAddress = make(map[string]*openpgp.Entity)
	}
	r.byAddress[address] = key
}

func (r *resolvedKeys) storeCertificate(address string, cert *x509.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.certificates == nil {
		r.certificates = make(map[string]*x509.Certificate)
	}
	r.certificates[address] = cert
}

// keySource returns the compose.KeySource that returns the stored keys, and
// calls source for any other address.
func (r *resolvedKeys) keySource(source compose.KeySource) compose.KeySource {
	return resolvedKeySource{resolved: r, source: source}
}

// certificateSource returns the compose.CertificateSource that returns the
// stored certificates, and calls source for any other address.
func (r *resolvedKeys) certificateSource(source compose.CertificateSource) compose.CertificateSource {
	if source == nil {
		return nil
	}
	return resolvedCertificateSource{resolved: r, source: source}
}

type resolvedKeySource struct {
	resolved *resolvedKeys
	source   compose.KeySource
}

func (s resolvedKeySource) EncryptionKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	s.resolved.mu.Lock()
	key, ok := s.resolved.byAddress[address]
	s.resolved.mu.Unlock()
	if ok {
		return key, nil
	}
	return s.source.EncryptionKey(ctx, address, now)
}

type resolvedCertificateSource struct {
	resolved *resolvedKeys
	source   compose.CertificateSource
}

func (s resolvedCertificateSource) RecipientCertificate(ctx context.Context, address string, now time.Time) (*x509.Certificate, error) {
	s.resolved.mu.Lock()
	cert, ok := s.resolved.certificates[address]
	s.resolved.mu.Unlock()
	if ok {
		return cert, nil
	}
	return s.source.RecipientCertificate(ctx, address, now)
}
