package keyring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// The index maps addresses, key IDs and subkey fingerprints to the primary
// fingerprints of the certificates in the certificate directory, so that a
// lookup parses only the certificates that can match. It is a cache: the
// files are the truth, and indexLookup checks the index against them, so
// lookups find what other processes and other cert-d tools wrote.
//
// Staleness is found by modification times. Every write to the directory
// is a rename or a removal inside a prefix folder ("ab/"), which changes the
// modification time of that folder, and a new prefix folder changes that of
// the directory. A check stats the directory and each prefix folder (257
// stats at most) and rescans only the folders that changed. A rescan stats
// each file and parses only those whose size, modification time, change
// time or inode changed.
//
// Kernels stamp files with a coarse clock, so a write just after a scan can
// leave a folder with the same time the index recorded. Times less than
// racyWindow old are therefore not trusted: the index records them as zero,
// and the next lookup scans that folder or parses that file again.
//
// The index is saved in the keyring folder, outside the certificate
// directory, by atomic rename and without the lock: two processes that
// save at once write equally valid indexes. A keyring that cannot be
// written keeps its index in memory only.

// indexFileName is the name of the saved index in the keyring folder.
const indexFileName = "pgp.index"

// indexMagic is the first line of a saved index. An index with another
// first line is ignored and rebuilt.
const indexMagic = "sealmail certificate index 3"

// racyWindow is the age below which a modification time is not trusted.
const racyWindow = 2 * time.Second

// fileStamp identifies one version of a file.
type fileStamp struct {
	size, mtime, ctime int64
	inode              uint64
}

// indexedCert is the index entry of one certificate file.
type indexedCert struct {
	fpr   string
	stamp fileStamp
	// sum is the truncated SHA-256 of the file, so that a file whose stamp
	// cannot be trusted is read again but parsed only when it changed.
	sum string
	// addresses are the normalized addresses of every user ID, valid or
	// not; the lookup checks the certificate it reads.
	addresses []string
	// subkeys are the fingerprints of the subkeys.
	subkeys []string
	// problem is the reason the file could not be read, or "".
	problem string
	corrupt bool
}

// certIndex is the loaded index of a certificate directory.
type certIndex struct {
	rootTime int64
	// dirs maps each prefix folder to the modification time seen when it
	// was last scanned, or zero to scan it again.
	dirs  map[string]int64
	certs map[string]*indexedCert
	// byKey maps an address, a long key ID or a subkey fingerprint to the
	// primary fingerprints of the certificates that have it.
	byKey map[string][]string
	// dirty is set when the index differs from the saved one.
	dirty bool
	// lazy contains the records of the readable certificates of a loaded
	// index, one a line, until something needs them parsed: a process
	// that looks up one address finds its lines by searching these bytes.
	// While lazy is not nil, certs contains only the unreadable files and
	// byKey is nil.
	lazy []byte
}

func newCertIndex() *certIndex {
	return &certIndex{dirs: map[string]int64{}, certs: map[string]*indexedCert{}}
}

// indexLookup returns the primary fingerprints of the readable
// certificates that the index lists under key, as certIndex.lookup takes
// it, and every file that the index could not read.
//
// With checkWhenStale, the index is first brought up to date when it may be
// stale. That is when this process has not checked it within
// fullCheckInterval, or another sealmail process saved it since (every
// import and removal does). It is also checked when key has no
// certificate, so that a miss is never reported from a stale index.
// Otherwise the check is skipped, because checking the folder times costs
// most of a lookup. An import holding the
// lock passes checkNever, because no other writer can change the
// directory while it holds the lock and noteWritten records its own writes.
func (k *Keyring) indexLookup(ctx context.Context, key string, mode lookupMode) ([]string, []*unreadableFile, error) {
	k.indexMu.Lock()
	defer k.indexMu.Unlock()

	now := indexClock()
	switch {
	case k.index == nil:
		k.index = k.loadIndex()
		if err := k.updateIndex(ctx, now); err != nil {
			return nil, nil, err
		}
	case mode == checkAlways,
		mode == checkWhenStale && (now.Sub(k.indexChecked) > fullCheckInterval || k.indexSavedElsewhere()):
		if err := k.updateIndex(ctx, now); err != nil {
			return nil, nil, err
		}
	}

	fprs := k.index.readable(key)
	if len(fprs) == 0 && mode != checkNever && !k.indexChecked.Equal(now) {
		if err := k.updateIndex(ctx, now); err != nil {
			return nil, nil, err
		}
		fprs = k.index.readable(key)
	}
	return fprs, k.index.unreadable(k), nil
}

// lookupMode selects when indexLookup checks the index against the folders.
type lookupMode int

const (
	checkWhenStale lookupMode = iota // as indexLookup describes
	checkAlways                      // a file the index listed is gone or changed
	checkNever                       // an import holding the lock
)

// indexClock returns the time against which the index judges modification
// times; tests set it to place those times exactly.
var indexClock = time.Now

// fullCheckInterval bounds how long a process trusts its index without
// checking the folder times, which is how long a certificate that another
// cert-d tool adds for an address that already has one may go unseen.
const fullCheckInterval = time.Second

// updateIndex brings the index up to date and saves it, with indexMu held.
func (k *Keyring) updateIndex(ctx context.Context, now time.Time) error {
	if err := k.index.update(ctx, k.certDir, now); err != nil {
		return err
	}
	k.indexChecked = now
	k.saveIfDirty()
	return nil
}

// indexSavedElsewhere reports whether the saved index is not the one this
// process last loaded or saved, with indexMu held.
func (k *Keyring) indexSavedElsewhere() bool {
	stamp, err := exactStamp(filepath.Join(k.dir, indexFileName))
	return err != nil || stamp != k.indexStamp
}

// readable returns the fingerprints under key whose files could be read.
func (idx *certIndex) readable(key string) []string {
	var fprs []string
	for _, fpr := range idx.lookup(key) {
		if entry := idx.certs[fpr]; entry == nil || entry.problem == "" {
			fprs = append(fprs, fpr)
		}
	}
	return fprs
}

// refreshIndex brings the index up to date, for an import or removal that
// took the lock and then looks keys up with checkNever.
func (k *Keyring) refreshIndex(ctx context.Context) error {
	_, _, err := k.indexLookup(ctx, "", checkAlways)
	return err
}

// saveIndexIfDirty saves the index when it changed.
func (k *Keyring) saveIndexIfDirty() {
	k.indexMu.Lock()
	defer k.indexMu.Unlock()
	if k.index != nil {
		k.saveIfDirty()
	}
}

// saveIfDirty saves the index when it changed, with indexMu held, and
// records the stamp of the saved file. A keyring that cannot be written,
// such as a read-only one, keeps the index in memory, and the next process
// builds it again.
func (k *Keyring) saveIfDirty() {
	if !k.index.dirty {
		return
	}
	path := filepath.Join(k.dir, indexFileName)
	if k.saveIndex(k.index) != nil {
		return
	}
	k.index.dirty = false
	if stamp, err := exactStamp(path); err == nil {
		k.indexStamp = stamp
	}
}

// update brings idx up to date with the certificate directory dir.
func (idx *certIndex) update(ctx context.Context, dir string, now time.Time) error {
	rootInfo, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failed to read certificate directory %q: %w", dir, err)
	}
	rootTime := trustedTime(rootInfo.ModTime(), now)

	if rootTime != 0 && rootTime == idx.rootTime {
		current, err := idx.unchanged(ctx, dir)
		if err != nil {
			return err
		}
		if current {
			return nil
		}
	}
	if err := idx.parseLazy(); err != nil {
		// A damaged index is rebuilt from the files.
		*idx = *newCertIndex()
	}

	changed := false
	if rootTime == 0 || rootTime != idx.rootTime {
		// A prefix folder may have been added or removed.
		prefixes, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("failed to read certificate directory %q: %w", dir, err)
		}
		present := make(map[string]bool, len(prefixes))
		for _, prefix := range prefixes {
			if prefix.IsDir() && isPrefix(prefix.Name()) {
				present[prefix.Name()] = true
				if _, ok := idx.dirs[prefix.Name()]; !ok {
					idx.dirs[prefix.Name()] = 0
				}
			}
		}
		for prefix := range idx.dirs {
			if !present[prefix] {
				idx.dropPrefix(prefix)
				changed = true
			}
		}
		idx.rootTime = rootTime
		idx.dirty = true
	}

	for prefix, seen := range idx.dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(dir, prefix)
		info, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			idx.dropPrefix(prefix)
			changed = true
			continue
		}
		if err != nil {
			return fmt.Errorf("failed to read certificate directory %q: %w", path, err)
		}
		if seen != 0 && info.ModTime().UnixNano() == seen {
			continue
		}
		scanChanged, err := idx.scanPrefix(ctx, path, prefix, now)
		if err != nil {
			return err
		}
		changed = changed || scanChanged
		// The time read before the scan is the one recorded, so a write
		// during the scan makes the next lookup scan again.
		idx.dirs[prefix] = trustedTime(info.ModTime(), now)
		idx.dirty = true
	}

	if changed || idx.byKey == nil {
		idx.rebuildKeys()
	}
	return nil
}

// unchanged reports whether no prefix folder of dir changed since idx
// scanned it, so that a lazy index can stay lazy.
func (idx *certIndex) unchanged(ctx context.Context, dir string) (bool, error) {
	if idx.lazy == nil && idx.byKey == nil {
		return false, nil
	}
	for prefix, seen := range idx.dirs {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		info, err := os.Stat(filepath.Join(dir, prefix))
		if err != nil || seen == 0 || info.ModTime().UnixNano() != seen {
			return false, nil
		}
	}
	return true, nil
}

// parseLazy parses the records that lazy contains into certs and builds
// byKey.
func (idx *certIndex) parseLazy() error {
	if idx.lazy == nil {
		return nil
	}
	rest := idx.lazy
	idx.lazy = nil
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		entry, err := parseCertRecord(string(line))
		if err != nil {
			return err
		}
		if _, ok := idx.dirs[entry.fpr[:2]]; !ok {
			return errors.New("invalid index: a certificate without its folder")
		}
		idx.certs[entry.fpr] = entry
	}
	idx.rebuildKeys()
	return nil
}

// scanPrefix reads the prefix folder path again and parses the files that
// changed. It reports whether any entry changed.
func (idx *certIndex) scanPrefix(ctx context.Context, path, prefix string, now time.Time) (bool, error) {
	files, err := os.ReadDir(path)
	if err != nil {
		return false, fmt.Errorf("failed to read certificate directory %q: %w", path, err)
	}

	changed := false
	present := make(map[string]bool, len(files))
	for _, file := range files {
		fpr := prefix + file.Name()
		if !file.Type().IsRegular() || !isFingerprint(fpr) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		present[fpr] = true

		filePath := filepath.Join(path, file.Name())
		stamp, err := stampOf(filePath, now)
		if errors.Is(err, fs.ErrNotExist) {
			// Removed since the folder was listed.
			delete(present, fpr)
			continue
		}
		old := idx.certs[fpr]
		if err == nil && old != nil && stamp.mtime != 0 && old.stamp == stamp {
			continue
		}
		entry := indexFile(filePath, fpr, stamp, err, old)
		if old == nil || !old.sameContent(entry) {
			changed = true
		}
		idx.certs[fpr] = entry
		idx.dirty = true
	}

	for fpr := range idx.certs {
		if fpr[:2] == prefix && !present[fpr] {
			delete(idx.certs, fpr)
			changed = true
		}
	}
	return changed, nil
}

// indexFile returns the entry of the certificate file at path, whose stat
// returned stamp and statErr. When the file has the content of old, old's
// parsed fields are kept and the file is not parsed again.
func indexFile(path, fpr string, stamp fileStamp, statErr error, old *indexedCert) *indexedCert {
	entry := &indexedCert{fpr: fpr, stamp: stamp}
	if statErr != nil {
		entry.problem = statErr.Error()
		return entry
	}
	data, err := os.ReadFile(path)
	if err != nil {
		entry.problem = err.Error()
		return entry
	}
	entry.sum = contentSum(data)
	if old != nil && old.sum == entry.sum && old.problem == "" {
		entry.addresses, entry.subkeys = old.addresses, old.subkeys
		return entry
	}
	return entry.parse(data)
}

// parse fills the addresses and subkeys of entry from the certificate
// data, or its problem when data is not the certificate, and returns entry.
func (entry *indexedCert) parse(data []byte) *indexedCert {
	if onCertParse != nil {
		onCertParse(entry.fpr)
	}
	cert, err := parseStored(data, entry.fpr)
	if err != nil {
		entry.sum = contentSum(data)
		entry.problem = err.Error()
		entry.corrupt = true
		return entry
	}
	return entry.describe(data, cert)
}

// describe fills the sum, addresses and subkeys of entry from the
// certificate cert, parsed from data, and returns entry.
func (entry *indexedCert) describe(data []byte, cert *openpgp.Entity) *indexedCert {
	entry.sum = contentSum(data)
	entry.addresses = indexAddresses(cert)
	entry.subkeys = nil
	for _, subkey := range cert.Subkeys {
		entry.subkeys = append(entry.subkeys, hexFingerprint(subkey.PublicKey.Fingerprint))
	}
	return entry
}

// sameContent reports whether entry and other index the same content.
func (entry *indexedCert) sameContent(other *indexedCert) bool {
	return entry.sum == other.sum && entry.problem == other.problem
}

// contentSum returns the first 16 bytes of the SHA-256 of data in hex.
func contentSum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// indexAddresses returns the normalized addresses of every user ID of e,
// bound or not: the index may offer a certificate that the lookup then
// rules out, but must never miss one.
func indexAddresses(e *openpgp.Entity) []string {
	seen := map[string]bool{}
	var list []string
	for _, identity := range e.Identities {
		address := identityAddress(identity)
		if address == "" {
			continue
		}
		address = normalizeAddress(address)
		if !seen[address] {
			seen[address] = true
			list = append(list, address)
		}
	}
	sort.Strings(list)
	return list
}

// noteWritten updates the index of this process for the certificate data,
// parsed as cert, that the caller, holding the lock, just stored under fpr.
// The following lookups of the same import then see it without scanning.
// Its stamp and its folder's time are left unknown, so the next update
// reads the file again, and parses it only if another writer changed it.
func (k *Keyring) noteWritten(fpr string, data []byte, cert *openpgp.Entity) {
	k.indexMu.Lock()
	defer k.indexMu.Unlock()
	if k.index == nil || k.index.parseLazy() != nil || k.index.byKey == nil {
		return
	}
	idx := k.index
	entry := (&indexedCert{fpr: fpr}).describe(data, cert)
	idx.certs[fpr] = entry
	idx.dirs[fpr[:2]] = 0
	idx.rootTime = 0
	for _, key := range entry.keys() {
		if !slices.Contains(idx.byKey[key], fpr) {
			idx.byKey[key] = append(idx.byKey[key], fpr)
		}
	}
	idx.dirty = true
}

// keys returns the index keys of entry other than its fingerprint: its
// long key ID, addresses, and subkey fingerprints and key IDs.
func (entry *indexedCert) keys() []string {
	keys := []string{keyIDOf(entry.fpr)}
	keys = append(keys, entry.addresses...)
	for _, subkey := range entry.subkeys {
		keys = append(keys, subkey, keyIDOf(subkey))
	}
	return keys
}

// noteRemoved updates the index of this process for the certificate fpr
// that the caller, holding the lock, just removed.
func (k *Keyring) noteRemoved(fpr string) {
	k.indexMu.Lock()
	defer k.indexMu.Unlock()
	if k.index == nil {
		return
	}
	if k.index.parseLazy() != nil {
		k.index = newCertIndex()
		return
	}
	delete(k.index.certs, fpr)
	k.index.dirs[fpr[:2]] = 0
	k.index.rootTime = 0
	k.index.rebuildKeys()
	k.index.dirty = true
}

// dropPrefix removes the prefix folder and its certificates from the index.
func (idx *certIndex) dropPrefix(prefix string) {
	delete(idx.dirs, prefix)
	for fpr := range idx.certs {
		if fpr[:2] == prefix {
			delete(idx.certs, fpr)
		}
	}
	idx.dirty = true
}

// rebuildKeys computes byKey from certs.
func (idx *certIndex) rebuildKeys() {
	idx.byKey = make(map[string][]string, 3*len(idx.certs))
	add := func(key, fpr string) {
		idx.byKey[key] = append(idx.byKey[key], fpr)
	}
	for fpr, entry := range idx.certs {
		for _, key := range entry.keys() {
			add(key, fpr)
		}
	}
	for key, fprs := range idx.byKey {
		sort.Strings(fprs)
		idx.byKey[key] = compactStrings(fprs)
	}
}

// compactStrings removes adjacent duplicates from the sorted list.
func compactStrings(list []string) []string {
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// lookup returns the primary fingerprints of the certificates that may
// match key: a normalized address, a lowercase long key ID, or a lowercase
// fingerprint of a primary key or subkey. A file that cannot be read
// matches by its name only.
func (idx *certIndex) lookup(key string) []string {
	fprs := append([]string(nil), idx.byKey[key]...)
	if _, ok := idx.certs[key]; ok {
		fprs = append(fprs, key)
	}
	if idx.lazy != nil {
		fprs = append(fprs, idx.searchLazy(key)...)
	}
	sort.Strings(fprs)
	return compactStrings(fprs)
}

// searchLazy returns the fingerprints of the lazy records that have key,
// parsing only the lines that contain it.
func (idx *certIndex) searchLazy(key string) []string {
	needle := []byte(url.QueryEscape(key))
	if len(needle) == 0 {
		return nil
	}
	var fprs []string
	data := idx.lazy
	for offset := 0; ; {
		i := bytes.Index(data[offset:], needle)
		if i < 0 {
			return fprs
		}
		start := bytes.LastIndexByte(data[:offset+i], '\n') + 1
		end := bytes.IndexByte(data[offset+i:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += offset + i
		}
		offset = end
		entry, err := parseCertRecord(string(data[start:end]))
		if err == nil && (entry.fpr == key || slices.Contains(entry.keys(), key)) {
			fprs = append(fprs, entry.fpr)
		}
		if offset >= len(data) {
			return fprs
		}
	}
}

// unreadable returns the files the index could not read, sorted by path.
func (idx *certIndex) unreadable(k *Keyring) []*unreadableFile {
	var files []*unreadableFile
	for fpr, entry := range idx.certs {
		if entry.problem != "" {
			files = append(files, &unreadableFile{
				fingerprint: fpr,
				path:        k.certPath(fpr),
				corrupt:     entry.corrupt,
				err:         errors.New(entry.problem),
			})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files
}

// trustedTime returns t in nanoseconds, or zero when t is within
// racyWindow of now and so may be shared by a later write. A time further
// in the future, as set by hand or by a wrong clock, is trusted. A write
// stamps the present, which differs from it, so the write is still seen.
// Treating such a time as racy would make every lookup scan the folder and
// save the index again.
func trustedTime(t, now time.Time) int64 {
	if age := now.Sub(t); age < racyWindow && age > -racyWindow {
		return 0
	}
	return t.UnixNano()
}

// stampOf returns the stamp of the file at path. A stamp with a
// modification time within racyWindow of now has mtime zero, which never
// matches, so the file is parsed again by the next scan.
func stampOf(path string, now time.Time) (fileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	stamp := fileStamp{size: info.Size(), mtime: trustedTime(info.ModTime(), now)}
	stamp.ctime, stamp.inode = changeTimeAndInode(info)
	return stamp, nil
}

// exactStamp returns the stamp of the file at path with its modification
// time, however recent.
func exactStamp(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	stamp := fileStamp{size: info.Size(), mtime: info.ModTime().UnixNano()}
	stamp.ctime, stamp.inode = changeTimeAndInode(info)
	return stamp, nil
}

// isPrefix reports whether name is a prefix folder name: two lowercase hex
// digits.
func isPrefix(name string) bool {
	return len(name) == 2 && isLowerHex(name)
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// The saved index is text, one record a line, fields separated by tabs:
//
//	sealmail certificate index 3
//	root  MTIME
//	dir   PREFIX MTIME
//	cert  FPR SIZE MTIME CTIME INODE SUM CORRUPT ADDRESSES SUBKEYS PROBLEM
//	certs COUNT CRC
//	cert  ...
//
// The cert records before the "certs" line are those of unreadable files,
// with a PROBLEM; the COUNT records after it are the readable ones, whose
// bytes have the CRC-32C CRC, so that damage is found without parsing
// them. ADDRESSES and SUBKEYS are comma-separated lists. Addresses and
// problems are query-escaped, so they contain no tab, comma or newline.

// loadIndex reads the saved index, or returns an empty one when there is
// none or it cannot be read: the index is rebuilt from the files then.
func (k *Keyring) loadIndex() *certIndex {
	path := filepath.Join(k.dir, indexFileName)
	if stamp, err := exactStamp(path); err == nil {
		k.indexStamp = stamp
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return newCertIndex()
	}
	idx, err := parseIndex(data)
	if err != nil {
		return newCertIndex()
	}
	return idx
}

// parseIndex reads a saved index, leaving the records of readable
// certificates unparsed in lazy.
func parseIndex(data []byte) (*certIndex, error) {
	idx := newCertIndex()
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	if string(first) != indexMagic {
		return nil, errors.New("not a sealmail index")
	}
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		fields := strings.Split(string(line), "\t")
		switch {
		case fields[0] == "root" && len(fields) == 2:
			t, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return nil, err
			}
			idx.rootTime = t
		case fields[0] == "dir" && len(fields) == 3 && isPrefix(fields[1]):
			t, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				return nil, err
			}
			idx.dirs[fields[1]] = t
		case fields[0] == "cert":
			entry, err := parseCertRecord(string(line))
			if err != nil {
				return nil, err
			}
			if _, ok := idx.dirs[entry.fpr[:2]]; !ok || entry.problem == "" {
				return nil, errors.New("invalid index: a certificate out of place")
			}
			idx.certs[entry.fpr] = entry
		case fields[0] == "certs" && len(fields) == 3:
			count, err := strconv.Atoi(fields[1])
			if err != nil {
				return nil, err
			}
			if fields[2] != strconv.FormatUint(uint64(crc32.Checksum(rest, castagnoli)), 10) ||
				bytes.Count(rest, []byte("\n")) != count {
				return nil, errors.New("invalid index: the certificate records are damaged")
			}
			if count > 0 {
				idx.lazy = rest
			}
			return idx, nil
		default:
			return nil, fmt.Errorf("invalid index record %q", fields[0])
		}
	}
	return nil, errors.New("invalid index: it ends early")
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// parseCertRecord reads one cert line of a saved index.
func parseCertRecord(line string) (*indexedCert, error) {
	fields := strings.Split(line, "\t")
	if len(fields) != 11 || fields[0] != "cert" || !isFingerprint(fields[1]) {
		return nil, errors.New("invalid index: a malformed certificate record")
	}
	number := func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
	entry := &indexedCert{fpr: fields[1], sum: fields[6], corrupt: fields[7] == "1"}
	var errs [4]error
	entry.stamp.size, errs[0] = number(fields[2])
	entry.stamp.mtime, errs[1] = number(fields[3])
	entry.stamp.ctime, errs[2] = number(fields[4])
	entry.stamp.inode, errs[3] = strconv.ParseUint(fields[5], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for _, address := range splitList(fields[8]) {
		unescaped, err := url.QueryUnescape(address)
		if err != nil {
			return nil, err
		}
		entry.addresses = append(entry.addresses, unescaped)
	}
	entry.subkeys = splitList(fields[9])
	problem, err := url.QueryUnescape(fields[10])
	if err != nil {
		return nil, err
	}
	entry.problem = problem
	return entry, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// saveIndex writes idx to the keyring folder.
func (k *Keyring) saveIndex(idx *certIndex) error {
	if err := idx.parseLazy(); err != nil {
		return err
	}
	var head, certs bytes.Buffer
	fmt.Fprintln(&head, indexMagic)
	fmt.Fprintf(&head, "root\t%d\n", idx.rootTime)

	prefixes := make([]string, 0, len(idx.dirs))
	for prefix := range idx.dirs {
		prefixes = append(prefixes, prefix)
	}
	sort.Strings(prefixes)
	for _, prefix := range prefixes {
		fmt.Fprintf(&head, "dir\t%s\t%d\n", prefix, idx.dirs[prefix])
	}

	fprs := make([]string, 0, len(idx.certs))
	for fpr := range idx.certs {
		fprs = append(fprs, fpr)
	}
	sort.Strings(fprs)
	count := 0
	for _, fpr := range fprs {
		entry := idx.certs[fpr]
		w := &certs
		if entry.problem != "" {
			w = &head
		} else {
			count++
		}
		writeCertRecord(w, entry)
	}
	fmt.Fprintf(&head, "certs\t%d\t%d\n", count, crc32.Checksum(certs.Bytes(), castagnoli))
	head.Write(certs.Bytes())
	return writeFileAtomic(filepath.Join(k.dir, indexFileName), head.Bytes())
}

// writeCertRecord writes the cert line of entry.
func writeCertRecord(w *bytes.Buffer, entry *indexedCert) {
	addresses := make([]string, len(entry.addresses))
	for i, address := range entry.addresses {
		addresses[i] = url.QueryEscape(address)
	}
	corrupt := "0"
	if entry.corrupt {
		corrupt = "1"
	}
	fmt.Fprintf(w, "cert\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", entry.fpr,
		entry.stamp.size, entry.stamp.mtime, entry.stamp.ctime, entry.stamp.inode, entry.sum, corrupt,
		strings.Join(addresses, ","), strings.Join(entry.subkeys, ","), url.QueryEscape(entry.problem))
}
