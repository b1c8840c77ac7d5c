package compose

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/transport"
)

// plannedCopy is a Copy with the keys its OpenPGP message is encrypted to.
type plannedCopy struct {
	Copy
	keys []*openpgp.Entity // nil when not encrypting
}

// plan checks opts against the mode, resolves every key and decides the
// copies. When encrypting, To and Cc share one copy and each Bcc recipient
// gets its own, encrypted only to its recipients and the sender. When only
// signing, one copy goes to every recipient.
func plan(ctx context.Context, m *Message, opts *Options) ([]plannedCopy, error) {
	if opts.Mode != SignAndEncrypt && opts.Mode != SignOnly && opts.Mode != EncryptOnly {
		return nil, fmt.Errorf("invalid mode %v: use SignAndEncrypt, SignOnly or EncryptOnly", opts.Mode)
	}
	if opts.Mode.signs() && opts.Signer == nil {
		return nil, fmt.Errorf("failed to compose: signing requires the sender's secret key in Options.Signer")
	}
	if opts.Mode.signs() && opts.Signer.PrivateKey == nil {
		return nil, fmt.Errorf("failed to compose: the signer key %X has no secret key material; use the sender's secret key, not the certificate", opts.Signer.PrimaryKey.Fingerprint)
	}
	if opts.Mode.encrypts() && opts.Keys == nil {
		return nil, fmt.Errorf("failed to compose: encryption requires a key source for the recipients' certificates in Options.Keys")
	}

	toCc := append(append([]*mail.Address(nil), m.To...), m.Cc...)
	if !opts.Mode.encrypts() {
		all := append(append([]*mail.Address(nil), toCc...), m.Bcc...)
		return []plannedCopy{newCopy(m.From, all, "", nil)}, nil
	}

	keys, self, err := resolveKeys(ctx, m, opts)
	if err != nil {
		return nil, err
	}

	var copies []plannedCopy
	if len(toCc) > 0 {
		var list []*openpgp.Entity
		for _, a := range toCc {
			list = append(list, keys[a.Address])
		}
		copies = append(copies, newCopy(m.From, toCc, "", dedupeKeys(append(list, self...))))
	}
	for _, a := range m.Bcc {
		list := append([]*openpgp.Entity{keys[a.Address]}, self...)
		copies = append(copies, newCopy(m.From, []*mail.Address{a}, a.Address, dedupeKeys(list)))
	}
	return copies, nil
}

// resolveKeys looks up the key of every recipient, and of the sender unless
// NoEncryptToSelf is set. It collects every failure into one
// *RecipientError, so the user can fix them all at once.
func resolveKeys(ctx context.Context, m *Message, opts *Options) (map[string]*openpgp.Entity, []*openpgp.Entity, error) {
	now := opts.now()
	keys := map[string]*openpgp.Entity{}
	var problems []error

	for _, list := range [][]*mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			key, err := lookupKey(ctx, opts.Keys, a.Address, now)
			if err != nil {
				problems = append(problems, &KeyError{Address: a.Address, Err: err})
				continue
			}
			keys[a.Address] = key
		}
	}

	var self []*openpgp.Entity
	if !opts.NoEncryptToSelf {
		key, err := lookupKey(ctx, opts.Keys, m.From.Address, now)
		if err != nil {
			problems = append(problems, &KeyError{Address: m.From.Address, Sender: true, Err: err})
		} else {
			self = []*openpgp.Entity{key}
		}
	}

	if len(problems) > 0 {
		return nil, nil, &RecipientError{Problems: problems}
	}
	return keys, self, nil
}

// lookupKey calls the key source and turns a nil key without an error into
// one, so that a message is never encrypted to fewer keys than planned.
func lookupKey(ctx context.Context, keys KeySource, address string, now time.Time) (*openpgp.Entity, error) {
	key, err := keys.EncryptionKey(ctx, address, now)
	if err != nil {
		return nil, err
	}
	if key == nil || key.PrimaryKey == nil {
		return nil, errors.New("the key source returned no key")
	}
	return key, nil
}

// dedupeKeys drops repeated keys by primary key fingerprint: a key listed
// twice would make the recipient count differ from the PKESK packets.
func dedupeKeys(keys []*openpgp.Entity) []*openpgp.Entity {
	seen := map[string]bool{}
	var out []*openpgp.Entity
	for _, k := range keys {
		fp := hex.EncodeToString(k.PrimaryKey.Fingerprint)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		out = append(out, k)
	}
	return out
}

func newCopy(from *mail.Address, recipients []*mail.Address, bcc string, keys []*openpgp.Entity) plannedCopy {
	addresses := make([]string, len(recipients))
	for i, a := range recipients {
		addresses[i] = a.Address
	}
	return plannedCopy{
		Copy: Copy{
			Envelope:  transport.Envelope{From: from.Address, Recipients: addresses},
			MessageID: newMessageID(from.Address),
			Bcc:       bcc,
		},
		keys: keys,
	}
}

// newMessageID returns "random@domain" with 128 random bits and the
// sender's (already punycode) domain, as RFC 5322 section 3.6.4 suggests.
func newMessageID(from string) string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error, per crypto/rand's documentation
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return hex.EncodeToString(b[:]) + "@" + domain
}
