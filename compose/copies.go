package compose

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/transport"
)

// plannedCopy is a Copy with the keys its message is encrypted to.
type plannedCopy struct {
	Copy
	keys  []*openpgp.Entity   // OpenPGP; nil when not encrypting
	certs []*x509.Certificate // S/MIME; nil when not encrypting
	// gossipKeys are the recipients' keys that the copy gossips, and gossip
	// contains their Autocrypt-Gossip fields, which New writes.
	gossipKeys []gossipKey
	gossip     string
}

// gossipKey is a recipient's OpenPGP key to gossip, with its address.
type gossipKey struct {
	address string
	key     *openpgp.Entity
}

// recipientKey is the OpenPGP key or the X.509 certificate of one
// recipient, whichever the scheme uses.
type recipientKey struct {
	pgp  *openpgp.Entity
	cert *x509.Certificate
}

// fingerprint identifies the key so that one listed twice is used once.
func (k recipientKey) fingerprint() string {
	if k.cert != nil {
		sum := sha256.Sum256(k.cert.Raw)
		return "x509:" + hex.EncodeToString(sum[:])
	}
	return "pgp:" + hex.EncodeToString(k.pgp.PrimaryKey.Fingerprint)
}

// plan checks opts against the mode, resolves every key and decides the
// copies. When encrypting, To and Cc share one copy and each Bcc recipient
// (or, with Message.Recipients, each envelope recipient outside To and Cc)
// gets its own, encrypted only to its recipients and the sender. When only
// signing, one copy goes to every recipient. plan also returns the sender's
// key that encryption to self uses, if any.
//
// With OpenPGP, the To/Cc copy gossips the keys of the recipients that share
// it (Autocrypt Level 1), when there are at least two, because
// a single recipient learns nothing from its own key. A Bcc copy gossips
// nothing, so that no Bcc recipient learns the others' keys and no key
// reveals a Bcc recipient.
func plan(ctx context.Context, m *Message, opts *Options) ([]plannedCopy, []recipientKey, error) {
	if opts.Mode != SignAndEncrypt && opts.Mode != SignOnly && opts.Mode != EncryptOnly {
		return nil, nil, fmt.Errorf("invalid mode %v: use SignAndEncrypt, SignOnly or EncryptOnly", opts.Mode)
	}
	if err := checkSchemeOptions(opts); err != nil {
		return nil, nil, err
	}

	shared, own := envelopeRecipients(m)
	if !opts.Mode.encrypts() {
		all := append(append([]*mail.Address(nil), shared...), own...)
		return []plannedCopy{newCopy(m, all, "", nil)}, nil, nil
	}

	keys, self, err := resolveKeys(ctx, m.From, append(append([]*mail.Address(nil), shared...), own...), opts)
	if err != nil {
		return nil, nil, err
	}

	var copies []plannedCopy
	if len(shared) > 0 {
		var list []recipientKey
		for _, a := range shared {
			list = append(list, keys[a.Address])
		}
		pc := newCopy(m, shared, "", dedupeKeys(append(list, self...)))
		if opts.Scheme == PGP && !opts.Autocrypt.Off && len(shared) > 1 {
			for _, a := range shared {
				pc.gossipKeys = append(pc.gossipKeys, gossipKey{address: a.Address, key: keys[a.Address].pgp})
			}
		}
		copies = append(copies, pc)
	}
	for _, a := range own {
		list := append([]recipientKey{keys[a.Address]}, self...)
		copies = append(copies, newCopy(m, []*mail.Address{a}, a.Address, dedupeKeys(list)))
	}
	return copies, self, nil
}

// envelopeRecipients returns the recipients that share the To/Cc copy and
// those that get a copy of their own. Without Message.Recipients they are
// To and Cc, and Bcc. With it, a recipient shares the To/Cc copy when To or
// Cc names it, and gets its own copy otherwise. A To or Cc address that
// Recipients lacks is left out.
func envelopeRecipients(m *Message) (shared, own []*mail.Address) {
	if m.Recipients == nil {
		return append(append([]*mail.Address(nil), m.To...), m.Cc...), m.Bcc
	}
	inHeader := map[string]bool{}
	for _, a := range append(append([]*mail.Address(nil), m.To...), m.Cc...) {
		inHeader[strings.ToLower(a.Address)] = true
	}
	for _, r := range m.Recipients {
		a := &mail.Address{Address: r}
		if inHeader[strings.ToLower(r)] {
			shared = append(shared, a)
		} else {
			own = append(own, a)
		}
	}
	return shared, own
}

// checkSchemeOptions checks that opts holds what the scheme and mode need.
func checkSchemeOptions(opts *Options) error {
	switch opts.Scheme {
	case PGP:
		if opts.Mode.signs() && opts.Signer == nil {
			return fmt.Errorf("failed to compose: signing requires the sender's secret key in Options.Signer")
		}
		if opts.Mode.signs() && opts.Signer.PrivateKey == nil {
			return fmt.Errorf("failed to compose: the signer key %X has no secret key material; use the sender's secret key, not the certificate", opts.Signer.PrimaryKey.Fingerprint)
		}
		if opts.Mode.encrypts() && opts.Keys == nil {
			return fmt.Errorf("failed to compose: encryption requires a key source for the recipients' certificates in Options.Keys")
		}
	case SMIME:
		if opts.Mode.signs() && (opts.SMIMESigner == nil || opts.SMIMESigner.Certificate == nil || opts.SMIMESigner.Key == nil) {
			return fmt.Errorf("failed to compose: S/MIME signing requires the sender's certificate and unlocked key in Options.SMIMESigner")
		}
		if opts.Mode.encrypts() && opts.Certificates == nil {
			return fmt.Errorf("failed to compose: S/MIME encryption requires a certificate source in Options.Certificates")
		}
	default:
		return fmt.Errorf("invalid scheme %d: use PGP or SMIME", opts.Scheme)
	}
	return nil
}

// resolveKeys looks up the key of every recipient, and of the sender unless
// NoEncryptToSelf is set. It collects every failure into one
// *RecipientError, so the user can fix them all at once.
func resolveKeys(ctx context.Context, from *mail.Address, recipients []*mail.Address, opts *Options) (map[string]recipientKey, []recipientKey, error) {
	now := opts.now()
	keys := map[string]recipientKey{}
	var problems []error

	for _, a := range recipients {
		key, err := lookupKey(ctx, opts, a.Address, now)
		if err != nil {
			problems = append(problems, &KeyError{Address: a.Address, Err: err})
			continue
		}
		keys[a.Address] = key
	}

	var self []recipientKey
	if !opts.NoEncryptToSelf {
		key, err := lookupKey(ctx, opts, from.Address, now)
		if err != nil {
			problems = append(problems, &KeyError{Address: from.Address, Sender: true, Err: err})
		} else {
			self = []recipientKey{key}
		}
	}

	if len(problems) > 0 {
		return nil, nil, &RecipientError{Problems: problems}
	}
	return keys, self, nil
}

// lookupKey calls the key or certificate source of the scheme and turns a
// nil result without an error into one, so that a message is never
// encrypted to fewer keys than planned.
func lookupKey(ctx context.Context, opts *Options, address string, now time.Time) (recipientKey, error) {
	if opts.Scheme == SMIME {
		cert, err := opts.Certificates.RecipientCertificate(ctx, address, now)
		if err != nil {
			return recipientKey{}, err
		}
		if cert == nil {
			return recipientKey{}, errors.New("the certificate source returned no certificate")
		}
		return recipientKey{cert: cert}, nil
	}
	key, err := opts.Keys.EncryptionKey(ctx, address, now)
	if err != nil {
		return recipientKey{}, err
	}
	if key == nil || key.PrimaryKey == nil {
		return recipientKey{}, errors.New("the key source returned no key")
	}
	return recipientKey{pgp: key}, nil
}

// dedupeKeys drops repeated keys by fingerprint: a key listed twice would
// make the recipient count differ from the PKESK packets or recipient infos.
func dedupeKeys(keys []recipientKey) []recipientKey {
	seen := map[string]bool{}
	var out []recipientKey
	for _, k := range keys {
		fp := k.fingerprint()
		if seen[fp] {
			continue
		}
		seen[fp] = true
		out = append(out, k)
	}
	return out
}

// newCopy plans the copy of m for recipients. It carries m.MessageID when
// that is set, so that every copy threads as the original does, and a new
// Message-ID otherwise.
func newCopy(m *Message, recipients []*mail.Address, bcc string, keys []recipientKey) plannedCopy {
	addresses := make([]string, len(recipients))
	for i, a := range recipients {
		addresses[i] = a.Address
	}
	messageID := m.MessageID
	if messageID == "" {
		messageID = newMessageID(m.From.Address)
	}
	pc := plannedCopy{
		Copy: Copy{
			Envelope:  transport.Envelope{From: m.From.Address, Recipients: addresses},
			MessageID: messageID,
			Bcc:       bcc,
		},
	}
	for _, k := range keys {
		if k.cert != nil {
			pc.certs = append(pc.certs, k.cert)
		} else {
			pc.keys = append(pc.keys, k.pgp)
		}
	}
	return pc
}

// newMessageID returns "random@domain" with 128 random bits and the
// sender's (already punycode) domain, as RFC 5322 section 3.6.4 suggests.
func newMessageID(from string) string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error, per crypto/rand's documentation
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return hex.EncodeToString(b[:]) + "@" + domain
}
