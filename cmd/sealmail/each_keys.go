package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
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
		f.privacy.setOptions(&opts)
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
// the sender, on every core, into resolved. The lookups end in any order,
// so their results are recorded, and their warnings printed, in the order
// of the file. It returns one error that lists each recipient without a
// usable key, with its line in the file.
func (a *app) resolveEachKeys(ctx context.Context, kr *keyring.Keyring, scheme compose.Scheme, f *messageFlags, sender, name string, list []eachRecipient, resolved *resolvedKeys) error {
	now := time.Now()
	addresses := make([]string, len(list), len(list)+1)
	for i, r := range list {
		addresses[i] = r.address.Address
	}
	if !f.noEncryptToSelf {
		addresses = append(addresses, sender)
	}

	keys := make([]*openpgp.Entity, len(addresses))
	certs := make([]*x509.Certificate, len(addresses))
	problems := make([]error, len(addresses))
	policy := keyring.CertPolicy{SystemRoots: f.systemRoots, RequireRevocationCheck: f.requireRevocation}
	var mu sync.Mutex
	warnings := make([][]string, len(addresses))
	err := forEachIndex(ctx, len(addresses), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		var err error
		if scheme == compose.SMIME {
			policy := policy
			policy.Warn = func(msg string) {
				mu.Lock()
				defer mu.Unlock()
				warnings[i] = append(warnings[i], msg)
			}
			certs[i], err = kr.RecipientCertificate(ctx, addresses[i], now, policy)
			err = certificateLookupError(err)
		} else {
			keys[i], err = kr.EncryptionKey(ctx, addresses[i], now)
		}
		if err != nil {
			problems[i] = &compose.KeyError{Address: addresses[i], Sender: i == len(list), Err: err}
		}
		return ctx.Err()
	})
	// forEachIndex has returned, so no lookup adds warnings any more.
	a.printLookupWarnings(warnings)
	if err != nil {
		return err
	}

	resolved.record(kr, certSource{kr: kr, policy: policy}, addresses, keys, certs)
	return eachKeyProblems(ctx, kr, scheme, sender, name, list, problems)
}

// record stores the keys and certificates found for addresses, those at
// index i for addresses[i], and records them in that order for the check of
// the keys in use.
func (r *resolvedKeys) record(keys compose.KeySource, certs compose.CertificateSource, addresses []string, foundKeys []*openpgp.Entity, foundCerts []*x509.Certificate) {
	r.keys = &recordingKeys{source: keys}
	r.certs = &recordingCertificates{source: certs}
	for i, address := range addresses {
		if key := foundKeys[i]; key != nil && key.PrimaryKey != nil {
			r.storeKey(address, key)
			r.keys.used = append(r.keys.used, usedKey{address: address, key: key})
		}
		if cert := foundCerts[i]; cert != nil {
			r.storeCertificate(address, cert)
			r.certs.used = append(r.certs.used, usedCertificate{address: address, cert: cert})
		}
	}
}

// printLookupWarnings prints the warnings of the lookups, which are given
// for each address in the order of the file. It prints each distinct
// warning once and at most maxListedProblems of them, because one CA
// without a reachable CRL gives a warning for each of its certificates.
func (a *app) printLookupWarnings(warnings [][]string) {
	seen := make(map[string]bool)
	var lines []string
	for _, list := range warnings {
		for _, w := range list {
			if !seen[w] {
				seen[w] = true
				lines = append(lines, w)
			}
		}
	}
	for _, w := range lines[:min(len(lines), maxListedProblems)] {
		a.progress("warning: %s", w)
	}
	if more := len(lines) - maxListedProblems; more > 0 {
		a.progress("... and %d more %s like these", more, plural(more, "warning", "warnings"))
	}
}

// eachKeyProblems returns the error that lists each recipient and the
// sender with a problem in problems, the sender's at index len(list), or
// nil when there is none. The sender is named only when its own key is a
// problem.
func eachKeyProblems(ctx context.Context, kr *keyring.Keyring, scheme compose.Scheme, sender, name string, list []eachRecipient, problems []error) error {
	var found []error
	var lines []int
	var senderProblem string
	for i, p := range problems {
		switch {
		case p == nil:
		case i < len(list):
			found = append(found, p)
			lines = append(lines, list[i].line)
		default:
			// The reason without the hint of KeyError.Error, which names the
			// sender's certificate for OpenPGP too.
			reason := schemeHint(ctx, kr, scheme, sender, errors.Unwrap(p))
			senderProblem = fmt.Sprintf("sender %s: %v; to send without encrypting to yourself, give --no-encrypt-to-self", sender, reason)
		}
	}
	if len(found) == 0 && senderProblem == "" {
		return nil
	}
	if len(found) > 0 {
		hinted := schemeHint(ctx, kr, scheme, "", &compose.RecipientError{Problems: found})
		if re, ok := hinted.(*compose.RecipientError); ok {
			found = re.Problems
		}
	}

	noun := "encryption key"
	if scheme == compose.SMIME {
		noun = "certificate"
	}
	var missing string
	switch {
	case len(found) == 0:
		missing = "the sender " + sender
	case senderProblem == "":
		missing = fmt.Sprintf("%d of the %d recipients in %s", len(found), len(list), name)
	default:
		missing = fmt.Sprintf("%d of the %d recipients in %s and for the sender %s", len(found), len(list), name, sender)
	}
	text := make([]string, len(found))
	for i, p := range found {
		text[i] = fmt.Sprintf("line %d: %v", lines[i], p)
	}
	text = capList(text, maxListedProblems)
	if senderProblem != "" {
		text = append(text, senderProblem)
	}
	return fmt.Errorf("no usable %s for %s, so nothing was sent:\n  %s", noun, missing, strings.Join(text, "\n  "))
}

// certificateNotFoundError is the error of an S/MIME lookup that found no
// certificate for an address. Its message replaces that of the
// keyring.LookupError it wraps, which uses the OpenPGP term key.
type certificateNotFoundError struct {
	lookup *keyring.LookupError
}

// certificateLookupError returns err of an S/MIME lookup, with a
// certificateNotFoundError in place of a keyring.LookupError that found
// nothing.
func certificateLookupError(err error) error {
	var lookup *keyring.LookupError
	if errors.As(err, &lookup) && lookup.Status == "" && errors.Is(err, keyring.ErrNotFound) {
		return &certificateNotFoundError{lookup: lookup}
	}
	return err
}

func (e *certificateNotFoundError) Error() string {
	text := fmt.Sprintf("no certificate for %q in the keyring; import it (PEM, DER or a certs-only .p7c) with \"sealmail keyring import FILE\"", e.lookup.Address)
	if n := len(e.lookup.Unreadable); n > 0 {
		text += fmt.Sprintf("; %d stored %s could not be read and may hold it; run \"sealmail keyring list\" to see why", n, plural(n, "file", "files"))
	}
	return text
}

func (e *certificateNotFoundError) Unwrap() error { return e.lookup }

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
