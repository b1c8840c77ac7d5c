package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// Provenance records where a stored OpenPGP key came from and whether the
// user confirmed its fingerprint. Its JSON form is the file stored for the
// key.
type Provenance struct {
	Origin Origin `json:"origin"`
	// Source is the place the key came from: a file name, the URL of a Web
	// Key Directory, or the From address of the message that carried it.
	Source string `json:"source,omitempty"`
	// Added is when the key was first stored.
	Added time.Time `json:"added,omitzero"`
	// Confirmed is when the user confirmed the fingerprint with "keyring
	// confirm", or when the user's own secret key was imported or
	// generated; nil when never.
	Confirmed *time.Time `json:"confirmed,omitempty"`
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
// own. The user's own secret key is confirmed by its arrival.
func (k *Keyring) recordArrival(fpr string, origin Origin, source string, secret bool, now time.Time) error {
	p, err := k.readProvenance(fpr)
	if err != nil {
		return err
	}
	changed := false
	if p.Origin == OriginUnknown && p.Added.IsZero() {
		p = Provenance{Origin: origin, Source: source, Added: now.UTC().Truncate(time.Second)}
		changed = true
	}
	if secret && p.Confirmed == nil {
		confirmed := now.UTC().Truncate(time.Second)
		p.Confirmed = &confirmed
		changed = true
	}
	if !changed {
		return nil
	}
	return k.writeProvenance(fpr, p)
}

// Confirm records that the user checked the fingerprint of the stored
// OpenPGP key with the given primary key fingerprint (40 or 64 hex digits,
// written as Find accepts it) with its owner. A confirmed key is preferred
// by EncryptionKey over unconfirmed keys for the same address. An unknown
// fingerprint returns an error that wraps ErrNotFound.
func (k *Keyring) Confirm(ctx context.Context, fingerprint string, now time.Time) (Provenance, error) {
	fpr, err := parseFingerprint("confirm", fingerprint)
	if err != nil {
		return Provenance{}, err
	}
	if err := ctx.Err(); err != nil {
		return Provenance{}, err
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
	if p.Confirmed == nil {
		confirmed := now.UTC().Truncate(time.Second)
		p.Confirmed = &confirmed
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

// heldBack returns a warning when the just imported key e is not
// confirmed and another, confirmed key is stored for one of its addresses.
// EncryptionKey keeps using the confirmed key until the user confirms e.
// It returns "" otherwise. The caller holds the lock, so the index is not
// brought up to date for each key of a large import.
func (k *Keyring) heldBack(ctx context.Context, e *openpgp.Entity, now time.Time) (string, error) {
	if k.isConfirmed(e) {
		return "", nil
	}
	fpr := hexFingerprint(e.PrimaryKey.Fingerprint)
	for _, address := range addresses(e) {
		others, _, err := k.indexedCerts(ctx, normalizeAddress(address), checkNever)
		if err != nil {
			return "", err
		}
		for _, other := range others {
			if hexFingerprint(other.PrimaryKey.Fingerprint) == fpr || !k.isConfirmed(other) {
				continue
			}
			if status, _ := encryptionStatus(other, now); status != StatusValid {
				continue
			}
			return fmt.Sprintf("mail to %s stays encrypted to the confirmed key %s; check the fingerprint of %s with its owner and run \"sealmail keyring confirm %s\" to use it instead",
				address, displayFingerprint(other), displayFingerprint(e), strings.ToUpper(fpr)), nil
		}
	}
	return "", nil
}
