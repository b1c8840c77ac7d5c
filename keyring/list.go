package keyring

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Entry is one key as List and Find report it, or one stored file that
// could not be read. Its JSON form is the stable document of "keyring list
// --json": every field is present in every entry, with null, "" or [] when
// it does not apply, except algorithm and created, which only an entry of
// StatusUnreadable leaves out, and path and problem, which only it has.
type Entry struct {
	// Kind is KindOpenPGP or KindX509.
	Kind string `json:"kind"`
	// Fingerprint is the primary key fingerprint of an OpenPGP key, or the
	// SHA-256 of an X.509 certificate, in lowercase hex.
	Fingerprint string    `json:"fingerprint"`
	UserIDs     []string  `json:"user_ids"`
	Addresses   []string  `json:"addresses"`           // lowercase
	Algorithm   string    `json:"algorithm,omitempty"` // "rsa3072", "ed25519", ...
	Created     time.Time `json:"created,omitzero"`
	// Expires is when the primary key of an OpenPGP key expires, or the
	// notAfter of an X.509 certificate. It is nil when the key does not
	// expire.
	Expires *time.Time `json:"expires"`
	// EncryptionSubkeyExpires is when the subkey that sealmail encrypts to
	// at the time of the listing expires: the newest valid encryption
	// subkey, as go-crypto's Entity.EncryptionKey selects it. It is nil when
	// that subkey does not expire, when the primary key is the encryption
	// key, when no key is usable for encryption, and for X.509
	// certificates. EncryptionExpiry combines it with Expires.
	EncryptionSubkeyExpires *time.Time `json:"encryption_subkey_expires"`
	// Subkeys are the subkeys of an OpenPGP key, in the order of the
	// certificate. It is empty for X.509 certificates and unreadable files.
	Subkeys []Subkey `json:"subkeys"`
	Status  Status   `json:"status"`
	// Secret is set when a readable secret key is stored for the key. An
	// entry for an unreadable secret key file has it set too.
	Secret bool `json:"secret"`

	// Origin, Source and Confirmed are the provenance of an OpenPGP key:
	// how it arrived, from where, and when the user confirmed its
	// fingerprint (nil when never). They are empty for X.509 certificates,
	// which are checked against trust anchors instead. Origin is
	// OriginUnknown, the empty string, for a key stored before origins
	// were recorded.
	Origin    Origin     `json:"origin"`
	Source    string     `json:"source"`
	Confirmed *time.Time `json:"confirmed"`
	// ConfirmedAddresses are the addresses of Addresses that the
	// confirmation covers: those the key had when the user confirmed it. A
	// user ID that arrived later for another address is not confirmed.
	ConfirmedAddresses []string `json:"confirmed_addresses"`

	// ProvenanceProblem is the reason the provenance of an OpenPGP key
	// could not be read, or "": the key then counts as never confirmed.
	ProvenanceProblem string `json:"provenance_problem,omitempty"`

	// Path is the file that could not be read, for StatusUnreadable. It is
	// in the secret folder when the secret key file is the unreadable one,
	// so a key whose certificate is readable but whose secret key file is
	// not has two entries.
	Path string `json:"path,omitempty"`
	// Problem is the reason the file could not be read, for StatusUnreadable.
	Problem string `json:"problem,omitempty"`
}

// storedKey is a certificate with its Entry, or an unreadable file with its
// Entry and a nil cert.
type storedKey struct {
	cert *openpgp.Entity
	// certificate is set instead of cert for an X.509 certificate.
	certificate *x509.Certificate
	entry       Entry
	// primaryAddress orders the entries.
	primaryAddress string
}

// unreadable reports whether key is a stored file that could not be read.
func (key storedKey) unreadable() bool {
	return key.cert == nil && key.certificate == nil
}

// List returns every stored key and X.509 certificate, sorted by primary address, then
// fingerprint, and after them an entry of StatusUnreadable for every stored
// file that could not be read, sorted by path. Status is the usability for
// encryption at now. The status of an X.509 certificate is that of
// VerifyCertificate without an address and with the zero CertPolicy, except
// that only cached CRLs are used, and a trust anchor has StatusAnchor.
func (k *Keyring) List(ctx context.Context, now time.Time) ([]Entry, error) {
	keys, err := k.storedKeys(ctx, now)
	if err != nil {
		return nil, err
	}
	return sortedEntries(keys), nil
}

// ListAddresses returns the entries of List that have any of addresses,
// compared as Entry.HasAddress compares them, in the order of List. The
// OpenPGP certificates come through the index, so only those that may have
// an address are parsed, as by EncryptionKey. An entry of StatusUnreadable
// is kept, because the key in the file may have one of the addresses, unless
// it is the secret key file of a readable certificate that has none of them.
func (k *Keyring) ListAddresses(ctx context.Context, now time.Time, addresses []string) ([]Entry, error) {
	var certs []*openpgp.Entity
	var unreadable []*unreadableFile
	matched := map[string]bool{}
	for _, address := range addresses {
		found, files, err := k.certsForAddress(ctx, address)
		if err != nil {
			return nil, err
		}
		for _, cert := range found {
			if fpr := hexFingerprint(cert.PrimaryKey.Fingerprint); !matched[fpr] {
				matched[fpr] = true
				certs = append(certs, cert)
			}
		}
		// Every lookup reports all the unreadable files, so the last
		// one's are the newest.
		unreadable = files
	}
	keys, err := k.describeKeys(ctx, now, certs, unreadable)
	if err != nil {
		return nil, err
	}

	var kept []storedKey
	for _, key := range keys {
		if key.unreadable() {
			if k.mayHaveAddress(key.entry, matched) {
				kept = append(kept, key)
			}
			continue
		}
		for _, address := range addresses {
			if key.entry.HasAddress(address) {
				kept = append(kept, key)
				break
			}
		}
	}
	return sortedEntries(kept), nil
}

// mayHaveAddress reports whether the unreadable file of entry may hold a
// key with one of the addresses that the certificates matched have: any
// file but the secret key file of a readable certificate that is not among
// them.
func (k *Keyring) mayHaveAddress(entry Entry, matched map[string]bool) bool {
	if matched[entry.Fingerprint] || filepath.Dir(entry.Path) != k.secretDir {
		return true
	}
	cert, err := k.readCert(entry.Fingerprint)
	return err != nil || cert == nil
}

// storedKeys reads every certificate and secret key file; ctx stops it
// between files.
func (k *Keyring) storedKeys(ctx context.Context, now time.Time) ([]storedKey, error) {
	certs, unreadable, err := k.readCerts(ctx)
	if err != nil {
		return nil, err
	}
	return k.describeKeys(ctx, now, certs, unreadable)
}

// describeKeys returns the entries of the certificates certs and the
// unreadable certificate files, with every secret key file and X.509
// certificate.
func (k *Keyring) describeKeys(ctx context.Context, now time.Time, certs []*openpgp.Entity, unreadable []*unreadableFile) ([]storedKey, error) {
	secrets, unreadableSecrets, err := k.readSecrets(ctx)
	if err != nil {
		return nil, err
	}
	unreadable = append(unreadable, unreadableSecrets...)

	hasSecret := make(map[string]bool, len(secrets))
	for _, secret := range secrets {
		hasSecret[hexFingerprint(secret.PrimaryKey.Fingerprint)] = true
	}
	keys, err := k.describeCerts(certs, hasSecret, now)
	if err != nil {
		return nil, err
	}
	for _, file := range unreadable {
		keys = append(keys, storedKey{entry: Entry{
			Kind:        KindOpenPGP,
			Fingerprint: file.fingerprint,
			UserIDs:     []string{},
			Addresses:   []string{},
			Subkeys:     []Subkey{},
			Status:      StatusUnreadable,
			Secret:      file.secret || hasSecret[file.fingerprint],
			Path:        file.path,
			Problem:     file.err.Error(),
		}})
	}

	certificates, err := k.x509Keys(ctx, now)
	if err != nil {
		return nil, err
	}
	return append(keys, certificates...), nil
}

// describeCerts returns the entries of certs, computed on every core,
// because checking their signatures dominates listing a large keyring.
func (k *Keyring) describeCerts(certs []*openpgp.Entity, hasSecret map[string]bool, now time.Time) ([]storedKey, error) {
	keys := make([]storedKey, len(certs))
	errs := make([]error, len(certs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(certs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				keys[i], errs[i] = k.describeCert(certs[i], hasSecret[hexFingerprint(certs[i].PrimaryKey.Fingerprint)], now)
			}
		}()
	}
	for i := range certs {
		next <- i
	}
	close(next)
	wg.Wait()
	return keys, errors.Join(errs...)
}

// describeCert returns the entry of cert, which has a stored secret key
// when hasSecret is set.
func (k *Keyring) describeCert(cert *openpgp.Entity, hasSecret bool, now time.Time) (storedKey, error) {
	fpr := hexFingerprint(cert.PrimaryKey.Fingerprint)
	status, _ := encryptionStatus(cert, now)
	provenance, damage, provenanceErr := k.checkProvenance(fpr)
	return storedKey{
		cert: cert,
		entry: Entry{
			Kind:                    KindOpenPGP,
			Fingerprint:             fpr,
			UserIDs:                 userIDs(cert),
			Addresses:               addresses(cert),
			Algorithm:               algorithmName(cert.PrimaryKey),
			Created:                 cert.PrimaryKey.CreationTime,
			Expires:                 keyExpiry(cert),
			EncryptionSubkeyExpires: encryptionSubkeyExpiry(cert, now),
			Subkeys:                 describeSubkeys(cert, now),
			Status:                  status,
			Secret:                  hasSecret,
			Origin:                  provenance.Origin,
			Source:                  provenance.Source,
			Confirmed:               provenance.Confirmed,
			ConfirmedAddresses:      confirmedAmong(provenance, addresses(cert)),
			ProvenanceProblem:       damage,
		},
		primaryAddress: primaryAddress(cert),
	}, provenanceErr
}

// sortedEntries returns the entries of keys: readable keys by primary
// address and fingerprint, then unreadable files by path.
func sortedEntries(keys []storedKey) []Entry {
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if unreadableA, unreadableB := a.unreadable(), b.unreadable(); unreadableA != unreadableB {
			return unreadableB
		}
		if a.unreadable() {
			return a.entry.Path < b.entry.Path
		}
		if a.primaryAddress != b.primaryAddress {
			return a.primaryAddress < b.primaryAddress
		}
		return a.entry.Fingerprint < b.entry.Fingerprint
	})

	entries := make([]Entry, len(keys))
	for i, key := range keys {
		entries[i] = key.entry
	}
	return entries
}

// confirmedAmong returns the addresses of list that p confirms, sorted and
// never nil so that the JSON document has a list. An address whose user ID
// the key no longer has is left out.
func confirmedAmong(p Provenance, list []string) []string {
	return slices.DeleteFunc(p.ConfirmedAddresses(), func(confirmed string) bool {
		return !slices.ContainsFunc(list, func(address string) bool {
			return normalizeAddress(address) == confirmed
		})
	})
}
