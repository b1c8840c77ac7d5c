package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Origin is the channel through which an OpenPGP key arrived in the keyring.
type Origin string

// The origins of keys. A key keeps the origin it first arrived with. Later
// imports of the same key merge into it without changing its origin.
const (
	OriginUnknown   Origin = ""          // stored before origins were recorded
	OriginFile      Origin = "file"      // "keyring import" of a file or standard input
	OriginWKD       Origin = "wkd"       // a Web Key Directory
	OriginAutocrypt Origin = "autocrypt" // the Autocrypt header of a message
	OriginAttached  Origin = "attached"  // an application/pgp-keys part of a message
	OriginGenerated Origin = "generated" // "keyring generate"
)

// Provenance records where a stored OpenPGP key came from and for which
// addresses the user confirmed its fingerprint. Its JSON form is the file
// stored for the key.
//
// A confirmation covers the addresses the key's user IDs had when the user
// confirmed it, never the key as a whole. Anyone who holds the secret key
// can add a self-signed user ID for another address later, and a merge
// adds that user ID to the stored key.
type Provenance struct {
	Origin Origin `json:"origin"`
	// Source is the place the key came from: a file name, the URL of a Web
	// Key Directory, or the From address of the message that carried it.
	Source string `json:"source,omitempty"`
	// Added is when the key was first stored.
	Added time.Time `json:"added,omitzero"`
	// Confirmed is when the user last confirmed the key with "keyring
	// confirm", or when the user's own secret key was imported or
	// generated; nil when no address is confirmed.
	Confirmed *time.Time `json:"confirmed,omitempty"`
	// Addresses maps each address of the key's user IDs, folded as lookups
	// fold it, to how its user ID arrived and when the user confirmed the
	// key for it. It is written even when empty, because a record without
	// it is from before addresses were recorded.
	Addresses map[string]AddressProvenance `json:"addresses"`
	// LegacyConfirmed is when the user confirmed the key with a version of
	// sealmail that did not record the addresses a confirmation covers.
	// Such a confirmation covers no address, because a user ID added after
	// it cannot be distinguished from those the user checked.
	LegacyConfirmed *time.Time `json:"legacy_confirmed,omitempty"`

	// legacy is set when the stored record had no Addresses.
	legacy bool
}

// AddressProvenance is the provenance of the user IDs of a key for one
// address.
type AddressProvenance struct {
	// Origin and Source are those of the import that first brought a user
	// ID for the address, as Provenance has them for the whole key.
	Origin Origin `json:"origin"`
	Source string `json:"source,omitempty"`
	// Confirmed is when the user confirmed the key for the address; nil
	// when never.
	Confirmed *time.Time `json:"confirmed,omitempty"`
}

// ConfirmedFor reports whether the user confirmed the key for address.
func (p Provenance) ConfirmedFor(address string) bool {
	return p.Addresses[normalizeAddress(address)].Confirmed != nil
}

// Address returns the provenance of the user IDs for address. An address
// without an entry is not confirmed. In a record from before addresses were
// recorded, it has the origin and source of the key. Otherwise its origin
// is OriginUnknown, because another cert-d tool added its user ID or
// sealmail stored the key but failed to record the arrival. Such a user ID
// does not count as coming from the user's hand.
func (p Provenance) Address(address string) AddressProvenance {
	if a, ok := p.Addresses[normalizeAddress(address)]; ok {
		return a
	}
	if p.legacy {
		return AddressProvenance{Origin: p.Origin, Source: p.Source}
	}
	return AddressProvenance{Origin: OriginUnknown}
}

// ConfirmedAddresses returns the sorted addresses the user confirmed the
// key for, never nil.
func (p Provenance) ConfirmedAddresses() []string {
	list := []string{}
	for address, a := range p.Addresses {
		if a.Confirmed != nil {
			list = append(list, address)
		}
	}
	sort.Strings(list)
	return list
}

// LegacyNote returns a note for a key that the user confirmed with a version
// of sealmail that did not record the addresses a confirmation covers, such
// as "confirmed on 2025-01-03 by an earlier version of sealmail, which did
// not record the addresses a confirmation covers". It returns "" for any
// other key.
func (p Provenance) LegacyNote() string {
	if p.LegacyConfirmed == nil {
		return ""
	}
	return "confirmed on " + p.LegacyConfirmed.UTC().Format(time.DateOnly) +
		" by an earlier version of sealmail, which did not record the addresses a confirmation covers"
}

// byHand reports whether a key or user ID from origin came from the user's
// own hand: a file the user imported, or a key the user generated. Keys from
// a message, a Web Key Directory or an unknown origin did not.
func byHand(origin Origin) bool {
	return origin == OriginFile || origin == OriginGenerated
}

// provenanceDirName is the folder of provenance files, one per OpenPGP key,
// named "<fingerprint>.json". It is outside the certificate directory, which
// other OpenPGP tools share.
const provenanceDirName = "provenance"

func (k *Keyring) provenancePath(fpr string) string {
	return filepath.Join(k.dir, provenanceDirName, fpr+".json")
}

// Provenance returns the provenance of the stored OpenPGP key with the
// given primary key fingerprint. A key stored without one has the zero
// Provenance. An unknown fingerprint returns an error that wraps
// ErrNotFound.
func (k *Keyring) Provenance(ctx context.Context, fingerprint string) (Provenance, error) {
	fpr, err := parseFingerprint("read provenance of", fingerprint)
	if err != nil {
		return Provenance{}, err
	}
	if err := ctx.Err(); err != nil {
		return Provenance{}, err
	}
	if _, err := os.Stat(k.certPath(fpr)); errors.Is(err, fs.ErrNotExist) {
		return Provenance{}, notFound("read provenance of", fpr)
	}
	return k.readProvenance(fpr)
}

// readProvenance returns the stored provenance of fpr, or the zero value
// when none is stored. A file that cannot be parsed counts as none, so a
// damaged file makes a key unconfirmed, never confirmed.
func (k *Keyring) readProvenance(fpr string) (Provenance, error) {
	p, _, err := k.checkProvenance(fpr)
	return p, err
}

// checkProvenance returns what readProvenance does, and also the reason
// why the stored file could not be parsed, or "".
func (k *Keyring) checkProvenance(fpr string) (p Provenance, damage string, err error) {
	path := k.provenancePath(fpr)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Provenance{}, "", nil
	}
	if err != nil {
		return Provenance{}, "", fmt.Errorf("failed to read provenance of key 0x%s: %w", strings.ToUpper(fpr), err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return Provenance{}, fmt.Sprintf("the file %s, which records the origin and confirmation of the key, is damaged (%v), so the key counts as unconfirmed; confirm it again with \"sealmail keyring confirm %s\"",
			path, err, strings.ToUpper(fpr)), nil
	}
	if p.Addresses == nil {
		// A record from before confirmations named their addresses. Its
		// confirmation covers no address, because the user IDs the user
		// checked cannot be distinguished from those added later.
		p.legacy = true
		p.Addresses = map[string]AddressProvenance{}
		if p.Confirmed != nil {
			p.LegacyConfirmed, p.Confirmed = p.Confirmed, nil
		}
	}
	return p, "", nil
}

// writeProvenance stores p for fpr, with the lock held.
func (k *Keyring) writeProvenance(fpr string, p Provenance) error {
	dir := filepath.Join(k.dir, provenanceDirName)
	if err := makeDir(dir); err != nil {
		return err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode provenance of key 0x%s: %w", strings.ToUpper(fpr), err)
	}
	return writeFileAtomic(k.provenancePath(fpr), append(data, '\n'))
}

// recordArrival records, with the lock held, that the key fpr arrived from
// origin and source: a new key gets a provenance, a stored one keeps its
// own, and each address in stored (the key's addresses after the merge)
// that is new to the record gets origin and source. The user's own secret
// key is confirmed by its arrival for the addresses of its user IDs at that
// time.
func (k *Keyring) recordArrival(fpr string, stored []string, origin Origin, source string, secret bool, now time.Time) error {
	p, err := k.readProvenance(fpr)
	if err != nil {
		return err
	}

	now = now.UTC().Truncate(time.Second)
	changed := false
	if p.Origin == OriginUnknown && p.Added.IsZero() {
		p = Provenance{Origin: origin, Source: source, Added: now, Addresses: map[string]AddressProvenance{}}
		changed = true
	}
	if p.legacy {
		// The record existed before addresses were recorded, so this
		// import is the first to write them.
		changed = true
	}
	for _, address := range stored {
		address = normalizeAddress(address)
		a, ok := p.Addresses[address]
		if !ok {
			a = AddressProvenance{Origin: origin, Source: source}
			// In a record from before addresses were recorded, a user ID
			// came with the key or with this import. Of the two origins,
			// the one that is not the user's own hand is the safe guess.
			if p.legacy && !byHand(p.Origin) {
				a = AddressProvenance{Origin: p.Origin, Source: p.Source}
			}
			changed = true
		}
		if secret && a.Confirmed == nil {
			a.Confirmed = &now
			p.Confirmed = &now
			changed = true
		}
		p.Addresses[address] = a
	}
	if !changed {
		return nil
	}
	return k.writeProvenance(fpr, p)
}

// Confirm records that the user checked the fingerprint of the stored
// OpenPGP key with the given primary key fingerprint (40 or 64 hex digits,
// written as Find accepts it) with its owner, for the addresses toConfirm:
// the ones the user was shown. It confirms only those of them that the key's
// user IDs still have, so a user ID that an import added while the user
// looked, or adds later, stays unconfirmed. An address of the list that the
// key does not have is skipped. A key confirmed for an address is preferred
// by EncryptionKey over unconfirmed keys for it. An empty list is an error,
// and an unknown fingerprint returns an error that wraps ErrNotFound.
func (k *Keyring) Confirm(ctx context.Context, fingerprint string, toConfirm []string, now time.Time) (Provenance, error) {
	fpr, err := parseFingerprint("confirm", fingerprint)
	if err != nil {
		return Provenance{}, err
	}
	if len(toConfirm) == 0 {
		return Provenance{}, fmt.Errorf("failed to confirm key 0x%s: no address given: name the addresses of its user IDs that the user checked the fingerprint for",
			strings.ToUpper(fpr))
	}
	if err := ctx.Err(); err != nil {
		return Provenance{}, err
	}
	requested := make(map[string]bool, len(toConfirm))
	for _, address := range toConfirm {
		requested[normalizeAddress(address)] = true
	}

	unlock, err := k.lock(ctx)
	if err != nil {
		return Provenance{}, err
	}
	defer unlock()

	cert, err := k.readCert(fpr)
	if file := asUnreadable(err); file != nil {
		return Provenance{}, fmt.Errorf("failed to confirm key 0x%s: %w: import the key again to replace the file",
			strings.ToUpper(fpr), file)
	}
	if err != nil {
		return Provenance{}, err
	}
	if cert == nil {
		return Provenance{}, notFound("confirm", fpr)
	}

	p, err := k.readProvenance(fpr)
	if err != nil {
		return Provenance{}, err
	}
	if p.Addresses == nil {
		p.Addresses = map[string]AddressProvenance{}
	}
	confirmed := now.UTC().Truncate(time.Second)
	changed := p.legacy
	// The user IDs are read again under the lock: the list names what the
	// user saw, the certificate what the key has now.
	for _, address := range addresses(cert) {
		if !requested[normalizeAddress(address)] {
			continue
		}
		a := p.Address(address)
		if a.Confirmed == nil {
			a.Confirmed = &confirmed
			p.Addresses[normalizeAddress(address)] = a
			p.Confirmed = &confirmed
			changed = true
		}
	}
	if p.Confirmed != nil && p.LegacyConfirmed != nil {
		// The addresses are recorded now, so the old confirmation has
		// served its purpose of telling the user to confirm again.
		p.LegacyConfirmed = nil
		changed = true
	}
	if changed {
		if err := k.writeProvenance(fpr, p); err != nil {
			return Provenance{}, err
		}
	}
	return p, nil
}

// removeProvenance deletes the provenance of fpr, with the lock held.
func (k *Keyring) removeProvenance(fpr string) error {
	_, err := removeFile(k.provenancePath(fpr))
	return err
}

// heldBack returns the warnings, joined, for the addresses of the just
// imported key e that e is not confirmed for, or "". An address gets one
// when another key is confirmed for it or e is confirmed for other
// addresses. EncryptionKey keeps using a confirmed key until the user
// confirms e. In place of an unusable confirmed key, it uses e only when e
// came by the user's hand. The caller holds the lock, so the index is not
// brought up to date for each key of a large import.
func (k *Keyring) heldBack(ctx context.Context, e *openpgp.Entity, now time.Time) (string, error) {
	fpr := hexFingerprint(e.PrimaryKey.Fingerprint)
	p, err := k.readProvenance(fpr)
	if err != nil {
		return "", err
	}

	var warnings, unconfirmed []string
	for _, address := range addresses(e) {
		if p.ConfirmedFor(address) {
			continue
		}
		warning, err := k.heldBackFor(ctx, e, p, address, now)
		if err != nil {
			return "", err
		}
		if warning != "" {
			warnings = append(warnings, warning)
		} else {
			unconfirmed = append(unconfirmed, address)
		}
	}

	// A key confirmed for some addresses is not confirmed for a user ID
	// added later, which anyone who holds its secret key can make.
	if len(unconfirmed) > 0 && p.Confirmed != nil {
		list := strings.Join(unconfirmed, ", ")
		warnings = append(warnings, fmt.Sprintf("the key %s was confirmed for %s but not for %s, so mail to %s counts as unconfirmed; check the fingerprint with the owner of %s and run \"sealmail keyring confirm %s\"",
			displayFingerprint(e), strings.Join(p.ConfirmedAddresses(), ", "), list, list, list, strings.ToUpper(fpr)))
	}
	if len(unconfirmed) > 0 && p.LegacyConfirmed != nil {
		warnings = append(warnings, legacyWarning(displayFingerprint(e), p))
	}
	return strings.Join(warnings, "; "), nil
}

// heldBackFor returns the warning of heldBack for one address that e, with
// provenance p, is not confirmed for, or "" when another key is not
// confirmed for it either.
func (k *Keyring) heldBackFor(ctx context.Context, e *openpgp.Entity, p Provenance, address string, now time.Time) (string, error) {
	fpr := hexFingerprint(e.PrimaryKey.Fingerprint)
	others, _, err := k.indexedCerts(ctx, normalizeAddress(address), checkNever)
	if err != nil {
		return "", err
	}

	var failure *LookupError
	var unusable *openpgp.Entity
	for _, other := range others {
		if hexFingerprint(other.PrimaryKey.Fingerprint) == fpr || !k.isConfirmedFor(other, address) {
			continue
		}
		status, detail := encryptionStatus(other, now)
		if status == StatusValid {
			return fmt.Sprintf("mail to %s stays encrypted to the confirmed key %s; check the fingerprint of %s with its owner and run \"sealmail keyring confirm %s\" to use it instead",
				address, displayFingerprint(other), displayFingerprint(e), strings.ToUpper(fpr)), nil
		}
		if unusable == nil || newer(other, unusable) {
			unusable = other
			failure = lookupFailure(other, address, status, detail, false)
		}
	}
	if failure == nil {
		return "", nil
	}
	if status, _ := encryptionStatus(e, now); status != StatusValid {
		return "", nil
	}

	origin := p.Address(address)
	if byHand(origin.Origin) {
		return fmt.Sprintf("the confirmed %s, so mail to %s will be encrypted to %s, which you imported but never confirmed for it; check its fingerprint with its owner and run \"sealmail keyring confirm %s\"",
			failure.reason(), address, displayFingerprint(e), strings.ToUpper(fpr)), nil
	}
	return fmt.Sprintf("the confirmed %s, and sealmail will not encrypt mail to %s to %s instead, which came from %s and was never confirmed for it; check its fingerprint with its owner and run \"sealmail keyring confirm %s\" to use it",
		failure.reason(), address, displayFingerprint(e), describeArrival(origin), strings.ToUpper(fpr)), nil
}

// legacyWarning returns the warning that key, with provenance p whose
// confirmation is from a sealmail that did not record addresses, is
// unconfirmed.
func legacyWarning(key string, p Provenance) string {
	return fmt.Sprintf("the key %s was %s, so it counts as unconfirmed; check its fingerprint with its owner and run \"sealmail keyring confirm %s\" again",
		key, p.LegacyNote(), strings.TrimPrefix(key, "0x"))
}

// describeArrival names how a user ID arrived, such as "the Autocrypt
// header of a message from bob@example.org".
func describeArrival(a AddressProvenance) string {
	if a.Source == "" && a.Origin != OriginGenerated {
		a.Source = "an unknown sender or place"
	}
	switch a.Origin {
	case OriginAutocrypt:
		return "the Autocrypt header of a message from " + a.Source
	case OriginAttached:
		return "a key attached to a message from " + a.Source
	case OriginWKD:
		return "the Web Key Directory " + a.Source
	case OriginFile:
		return "the file " + a.Source
	case OriginGenerated:
		return "keyring generate"
	default:
		return "an unknown origin (stored before origins were recorded, or by another OpenPGP tool)"
	}
}
