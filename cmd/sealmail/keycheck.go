package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/keyring"
)

// expiryWarningPeriod is how long before its expiry a key or certificate in
// use gets a warning.
const expiryWarningPeriod = 30 * 24 * time.Hour

// recordingKeys is the compose.KeySource the CLI gives compose.New. It
// returns the keys of its source and records the key returned for each
// address, so that the CLI can check the keys compose.New resolved before
// anything is written.
type recordingKeys struct {
	source compose.KeySource

	mu   sync.Mutex
	used []usedKey
}

// usedKey is an OpenPGP key that compose.New resolved for an address.
type usedKey struct {
	address string
	key     *openpgp.Entity
}

func (r *recordingKeys) EncryptionKey(ctx context.Context, address string, now time.Time) (*openpgp.Entity, error) {
	key, err := r.source.EncryptionKey(ctx, address, now)
	if err == nil && key != nil && key.PrimaryKey != nil {
		r.mu.Lock()
		r.used = append(r.used, usedKey{address: address, key: key})
		r.mu.Unlock()
	}
	return key, err
}

// keys returns the recorded keys in the order of lookup, each pair of
// address and key once: an address given as To and Bcc is looked up twice.
func (r *recordingKeys) keys() []usedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []usedKey
	for _, u := range r.used {
		id := u.address + " " + fingerprintHex(u.key)
		if !seen[id] {
			seen[id] = true
			out = append(out, u)
		}
	}
	return out
}

// recordingCertificates is the compose.CertificateSource of the CLI for
// S/MIME. It records the certificate returned for each address, as
// recordingKeys does for OpenPGP.
type recordingCertificates struct {
	source compose.CertificateSource

	mu   sync.Mutex
	used []usedCertificate
}

// usedCertificate is an X.509 certificate that compose.New resolved for an
// address.
type usedCertificate struct {
	address string
	cert    *x509.Certificate
}

func (r *recordingCertificates) RecipientCertificate(ctx context.Context, address string, now time.Time) (*x509.Certificate, error) {
	cert, err := r.source.RecipientCertificate(ctx, address, now)
	if err == nil && cert != nil {
		r.mu.Lock()
		r.used = append(r.used, usedCertificate{address: address, cert: cert})
		r.mu.Unlock()
	}
	return cert, err
}

// certificates returns the recorded certificates in the order of lookup.
func (r *recordingCertificates) certificates() []usedCertificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]usedCertificate(nil), r.used...)
}

// keyCheck is the check of the keys and certificates that a message is
// about to be protected with. It collects the warnings, and the unconfirmed
// OpenPGP keys, for --require-confirmed.
type keyCheck struct {
	sender string // the From address
	now    time.Time

	warnings    []string
	unconfirmed []unconfirmedKey
	// warned contains the fingerprints of the keys and certificates already
	// named in an expiry warning, so that a key shared by the sender's
	// signature and encryption to self, or a CA certificate shared by
	// several recipients, is named once.
	warned map[string]bool
}

// unconfirmedKey is an OpenPGP key in use that the user never confirmed for
// the address it encrypts to.
type unconfirmedKey struct {
	address     string
	fingerprint string // uppercase hex
	provenance  keyring.Provenance
}

// describe returns how the key's user ID for the address arrived, and
// what the key was confirmed for instead, if anything, for a message.
func (u unconfirmedKey) describe() string {
	text := describeOrigin(u.provenance.Address(u.address))
	switch {
	case u.provenance.Confirmed != nil:
		text += "; confirmed only for " + printableList(u.provenance.ConfirmedAddresses())
	case u.provenance.LegacyConfirmed != nil:
		text += "; " + u.provenance.LegacyNote()
	}
	return text
}

// warning returns the warning for the key.
func (u unconfirmedKey) warning() string {
	switch {
	case u.provenance.Confirmed != nil:
		return fmt.Sprintf("the key 0x%s for %s was confirmed for %s, but never for %s (%s); check its fingerprint with the owner of %s and run \"sealmail keyring confirm %s\"",
			u.fingerprint, u.address, printableList(u.provenance.ConfirmedAddresses()), u.address,
			describeOrigin(u.provenance.Address(u.address)), u.address, u.fingerprint)
	case u.provenance.LegacyConfirmed != nil:
		return fmt.Sprintf("the key 0x%s for %s was %s, so it counts as unconfirmed (%s); check its fingerprint with its owner and run \"sealmail keyring confirm %s\" again",
			u.fingerprint, u.address, u.provenance.LegacyNote(),
			describeOrigin(u.provenance.Address(u.address)), u.fingerprint)
	default:
		return fmt.Sprintf("the key 0x%s for %s was never confirmed (%s); check its fingerprint with its owner and run \"sealmail keyring confirm %s\"",
			u.fingerprint, u.address, describeOrigin(u.provenance.Address(u.address)), u.fingerprint)
	}
}

// checkKeysInUse prints a warning for each unconfirmed OpenPGP key that
// compose.New resolved, and for each key or certificate in use, the
// sender's included, that expires within expiryWarningPeriod. With
// requireConfirmed, any unconfirmed OpenPGP key is an error that names
// every such key, and the CLI writes and sends nothing. S/MIME certificates
// need no confirmation, because compose.New validated them against the
// trust anchors.
func (a *app) checkKeysInUse(ctx context.Context, kr *keyring.Keyring, opts compose.Options, keys *recordingKeys,
	certs *recordingCertificates, sender string, f *messageFlags) error {
	check := &keyCheck{sender: sender, now: time.Now(), warned: map[string]bool{}}

	if opts.Signer != nil {
		check.signingKey(opts.Signer)
	}
	if opts.SMIMESigner != nil {
		check.senderCertificate(opts.SMIMESigner.Certificate, opts.SMIMESigner.Chain)
	}
	if keys != nil {
		for _, used := range keys.keys() {
			if err := check.recipientKey(ctx, kr, used); err != nil {
				return err
			}
		}
	}
	if certs != nil {
		policy := keyring.CertPolicy{SystemRoots: f.systemRoots, Offline: true}
		for _, used := range certs.certificates() {
			check.recipientCertificate(ctx, kr, policy, used)
		}
	}

	if f.requireConfirmed && len(check.unconfirmed) > 0 {
		for _, w := range check.warnings {
			a.progress("warning: %s", w)
		}
		return check.requireConfirmedError()
	}
	for _, w := range check.warnings {
		a.progress("warning: %s", w)
	}
	for _, key := range check.unconfirmed {
		a.progress("warning: %s", key.warning())
	}
	return nil
}

// requireConfirmedError returns the error of --require-confirmed, which
// names every unconfirmed key.
func (c *keyCheck) requireConfirmedError() error {
	keys := "1 key was not confirmed for its address"
	if len(c.unconfirmed) > 1 {
		keys = fmt.Sprintf("%d keys were not confirmed for their addresses", len(c.unconfirmed))
	}
	lines := make([]string, len(c.unconfirmed))
	for i, key := range c.unconfirmed {
		lines[i] = fmt.Sprintf("%s: key 0x%s (%s)", key.address, key.fingerprint, key.describe())
	}
	return fmt.Errorf("--require-confirmed: %s, so nothing was written or sent:\n  %s\n"+
		"check each fingerprint with the key's owner and run \"sealmail keyring confirm FINGERPRINT\", then try again",
		keys, strings.Join(lines, "\n  "))
}

// recipientKey checks the OpenPGP key used for an address: whether the
// user confirmed it for that address, and when it or its encryption subkey
// expires. A key confirmed for other addresses only counts as unconfirmed,
// since anyone who holds its secret key can add a user ID for any address.
func (c *keyCheck) recipientKey(ctx context.Context, kr *keyring.Keyring, used usedKey) error {
	fpr := fingerprintHex(used.key)
	provenance, err := kr.Provenance(ctx, fpr)
	if err != nil {
		return fmt.Errorf("failed to check whether the key 0x%s for %s was confirmed: %w", fpr, used.address, err)
	}
	if !provenance.ConfirmedFor(used.address) {
		c.unconfirmed = append(c.unconfirmed, unconfirmedKey{address: used.address, fingerprint: fpr, provenance: provenance})
	}

	encryptionKey, ok := used.key.EncryptionKey(c.now, nil)
	if !ok {
		// NOTE: compose.New just selected this key for encryption, so this
		// happens only when the key expires between the two calls.
		return nil
	}
	hint := "ask its owner for the key with a later expiry date and import it"
	if used.address == c.sender {
		hint = "extend its expiry date and import it again with \"sealmail keyring import\""
	}
	c.keyExpiry(encryptionKey, "encryption", "for "+used.address, hint)
	return nil
}

// signingKey checks when the sender's signing key or subkey expires.
func (c *keyCheck) signingKey(signer *openpgp.Entity) {
	signingKey, ok := signer.SigningKey(c.now, nil)
	if !ok {
		return
	}
	c.keyExpiry(signingKey, "signing", "of the sender "+c.sender,
		"extend its expiry date and import the secret key again with \"sealmail keyring import\"")
}

// keyExpiry adds a warning when key, as the OpenPGP library selected it for
// use, expires within expiryWarningPeriod. The primary key and the subkey
// both count, and so do their self-signatures, since the key is unusable
// once one of them expires.
func (c *keyCheck) keyExpiry(key openpgp.Key, use, owner, hint string) {
	primary := key.Entity.PrimaryKey
	primaryFpr := strings.ToUpper(fmt.Sprintf("%x", primary.Fingerprint))

	keyName, fpr := "the key 0x"+primaryFpr, primaryFpr
	expiry := keyring.SignatureExpiry(primary, key.PrimarySelfSignature)
	if key.PublicKey != nil && key.PublicKey != primary {
		subkey := keyring.SignatureExpiry(key.PublicKey, key.SelfSignature)
		if !subkey.IsZero() && (expiry.IsZero() || subkey.Before(expiry)) {
			expiry = subkey
			fpr = strings.ToUpper(fmt.Sprintf("%x", key.PublicKey.Fingerprint))
			keyName = fmt.Sprintf("the %s subkey 0x%s of the key 0x%s", use, fpr, primaryFpr)
		}
	}
	if !c.expiresSoon(expiry) || c.warned[fpr] {
		return
	}
	c.warned[fpr] = true
	c.warnings = append(c.warnings, fmt.Sprintf("%s %s expires %s; %s", keyName, owner, c.when(expiry), hint))
}

// recipientCertificate checks when the certificate used for an address, or
// a CA certificate of its chain below the trust anchor, expires.
// The certificate of the sender, for encryption to self, is named as the
// sender's.
func (c *keyCheck) recipientCertificate(ctx context.Context, kr *keyring.Keyring, policy keyring.CertPolicy, used usedCertificate) {
	// RecipientCertificate returns the certificate alone, so the chain is
	// built again here, offline, with the trust anchors compose.New used.
	var cas []*x509.Certificate
	chain, err := kr.VerifyCertificate(ctx, used.cert, nil, "", c.now, policy, keyring.UsageEncryption)
	if err == nil && len(chain) > 2 {
		cas = chain[1 : len(chain)-1]
	}
	// NOTE: when VerifyCertificate fails, which happens only when the
	// keyring changed since compose.New validated the certificate, the CA
	// certificates go unchecked for expiry.

	if used.address == c.sender {
		c.senderCertificate(used.cert, cas)
		return
	}
	c.certificateExpiry(used.cert, fmt.Sprintf("the certificate %q for %s", used.cert.Subject.String(), used.address),
		"ask its owner for a renewed certificate and import it")
	for _, ca := range cas {
		c.certificateExpiry(ca, fmt.Sprintf("the CA certificate %q in the chain of the certificate for %s", ca.Subject.String(), used.address),
			"the certificate cannot be validated after that, so ask its owner for one with a renewed chain")
	}
}

// senderCertificate checks when the sender's S/MIME certificate, or a CA
// certificate of its chain below the trust anchor, expires.
func (c *keyCheck) senderCertificate(cert *x509.Certificate, chain []*x509.Certificate) {
	c.certificateExpiry(cert, fmt.Sprintf("the S/MIME certificate %q of the sender %s", cert.Subject.String(), c.sender),
		"renew it with its CA and import the new PKCS#12 bundle")
	for _, ca := range chain {
		c.certificateExpiry(ca, fmt.Sprintf("the CA certificate %q in the chain of the sender's certificate", ca.Subject.String()),
			"signatures cannot be validated after that, so get a certificate with a renewed chain from the CA")
	}
}

// certificateExpiry adds a warning when cert expires within
// expiryWarningPeriod.
func (c *keyCheck) certificateExpiry(cert *x509.Certificate, certName, hint string) {
	fpr := fmt.Sprintf("x509:%x", sha256.Sum256(cert.Raw))
	if !c.expiresSoon(cert.NotAfter) || c.warned[fpr] {
		return
	}
	c.warned[fpr] = true
	c.warnings = append(c.warnings, fmt.Sprintf("%s expires %s; %s", certName, c.when(cert.NotAfter), hint))
}

// expiresSoon reports whether expiry is set and within expiryWarningPeriod.
func (c *keyCheck) expiresSoon(expiry time.Time) bool {
	return !expiry.IsZero() && expiry.Sub(c.now) <= expiryWarningPeriod
}

// when returns "on DATE (in N days)" for expiry, with the UTC date, and the
// days rounded up, so a key that expires in 36 hours is "in 2 days".
func (c *keyCheck) when(expiry time.Time) string {
	days := int(math.Ceil(expiry.Sub(c.now).Hours() / 24))
	in := fmt.Sprintf("in %d days", days)
	if days == 1 {
		in = "in 1 day"
	}
	return fmt.Sprintf("on %s (%s)", expiry.UTC().Format(time.DateOnly), in)
}

// describeOrigin returns the origin of a key's user ID for a message, such
// as "origin: wkd, https://example.org/...".
func describeOrigin(p keyring.AddressProvenance) string {
	return "origin: " + originDetail(p.Origin, p.Source)
}

// originDetail names origin, and source when it is known.
func originDetail(origin keyring.Origin, source string) string {
	name := string(origin)
	if origin == keyring.OriginUnknown {
		name = "unknown"
	}
	if source != "" {
		return name + ", " + printable(source)
	}
	return name
}

// fingerprintHex returns the primary key fingerprint of e in uppercase hex.
func fingerprintHex(e *openpgp.Entity) string {
	return strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))
}
