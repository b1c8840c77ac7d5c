package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/keyring/wkd"
)

// keyringFetch looks up the keys of addresses in their Web Key Directories
// and stores them. Each address is fetched on its own, so one failure does
// not keep the other keys out. The command fails at the end if any did.
func (a *app) keyringFetch(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring fetch", "keyring fetch ADDRESS...")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("keyring fetch: missing ADDRESS, the email address whose OpenPGP key to look up")
	}
	for _, address := range fs.Args() {
		if _, _, err := wkd.URLs(address); err != nil {
			return usagef("keyring fetch: %v", err)
		}
	}
	kr, err := a.openKeyring()
	if err != nil {
		return err
	}

	client := wkd.NewClient()
	var failed []string
	for _, address := range fs.Args() {
		if err := a.fetchKey(ctx, kr, client, address); err != nil {
			if ctx.Err() != nil {
				return err
			}
			a.progress("%v", err)
			failed = append(failed, address)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d keys were not fetched: %s", len(failed), fs.NArg(), strings.Join(failed, ", "))
	}
	return nil
}

// fetchKey looks up the key of address, stores it, and prints what was
// stored.
func (a *app) fetchKey(ctx context.Context, kr *keyring.Keyring, client *http.Client, address string) error {
	result, err := wkd.Lookup(ctx, client, address)
	if errors.Is(err, wkd.ErrNotFound) {
		return fmt.Errorf("%w; ask the owner of %s for the key and import it with \"sealmail keyring import FILE\"", err, address)
	}
	if err != nil {
		return err
	}
	imported, err := importFetched(ctx, kr, address, result)
	if err != nil {
		return err
	}

	for _, k := range imported {
		verb := importVerb(k)
		fmt.Fprintf(a.stdout, "%s public key %s %s from %s\n", verb, strings.ToUpper(k.Fingerprint), printableList(k.UserIDs), printable(result.URL))
		if k.Warning != "" {
			a.progress("warning: %s", k.Warning)
		}
	}
	return nil
}

// importFetched stores the keys of a lookup of address that have a user
// ID for it. Only those user IDs are kept, and a secret key is rejected,
// because the directory vouches for that address alone and should never
// serve one. The keyring drops the other keys and names them in the
// Warning of the first key stored. When no key has a user ID for the
// address, importFetched fails and stores nothing.
func importFetched(ctx context.Context, kr *keyring.Keyring, address string, result wkd.Result) ([]keyring.Imported, error) {
	imported, err := kr.ImportWithOptions(ctx, bytes.NewReader(result.Key), keyring.ImportOptions{
		Origin:        keyring.OriginWKD,
		Source:        result.URL,
		Address:       address,
		PublicOnly:    true,
		SkipOtherKeys: true,
	})
	if errors.Is(err, keyring.ErrNoMatchingUserID) {
		return imported, fmt.Errorf("failed to store a key from %s: the served keys have no user ID for %s; ask the owner of %s for the key: %w",
			result.URL, address, address, err)
	}
	if err != nil {
		return imported, fmt.Errorf("failed to store the key from %s: %w", result.URL, err)
	}
	return imported, nil
}

// keyringRefresh looks up the addresses of the stored OpenPGP keys again and
// merges what the directories return: new subkeys, revocations and new
// self-signatures, such as a later expiry. It looks up refreshWorkers
// addresses at a time, and imports and reports them one by one in the
// order of their addresses: updated, unchanged, not found, skipped or
// failed. It goes on past failures and fails at the end if any lookup or
// import failed.
func (a *app) keyringRefresh(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring refresh", "keyring refresh [ADDRESS...]")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	for _, address := range fs.Args() {
		if _, _, err := wkd.URLs(address); err != nil {
			return usagef("keyring refresh: %v", err)
		}
	}
	kr, err := a.openExistingKeyring()
	if err != nil {
		return err
	}
	now := time.Now()
	targets, err := refreshTargets(ctx, kr, fs.Args(), now)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		a.progress(`the keyring has no OpenPGP keys to refresh; add one with "sealmail keyring fetch ADDRESS"`)
		return nil
	}

	slices.SortFunc(targets, func(x, y refreshTarget) int { return strings.Compare(x.address, y.address) })
	lookupCtx, stopLookups := context.WithCancel(ctx)
	defer stopLookups()
	lookups := startLookups(lookupCtx, wkd.NewClient(), targets)
	var failed []string
	for i, target := range targets {
		a.step("looking up %s (%d of %d)", target.address, i+1, len(targets))
		var lookup lookupResult
		select {
		case lookup = <-lookups[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		status, err := a.refreshAddress(ctx, kr, target, lookup, now)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: failed: %v\n", target.address, err)
			failed = append(failed, target.address)
			continue
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", target.address, status)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d addresses could not be refreshed: %s", len(failed), len(targets), strings.Join(failed, ", "))
	}
	return nil
}

// refreshWorkers is the number of addresses that refresh looks up at the
// same time, so that a few slow or dead directories do not add up their
// time limits, while one refresh opens few connections.
const refreshWorkers = 4

// lookupResult is the outcome of the lookup of a refresh target.
type lookupResult struct {
	result wkd.Result
	err    error
}

// startLookups looks up the addresses of targets with refreshWorkers
// goroutines and returns a channel per target that receives its result.
// Each lookup keeps the time limits of wkd.Lookup. The goroutines end
// when every lookup is done or ctx is done, and a lookup that never
// started sends nothing.
func startLookups(ctx context.Context, client *http.Client, targets []refreshTarget) []chan lookupResult {
	results := make([]chan lookupResult, len(targets))
	for i := range results {
		// Each channel receives at most one value, so with a buffer of
		// one a worker never waits for the reader.
		results[i] = make(chan lookupResult, 1)
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range targets {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	for range min(refreshWorkers, len(targets)) {
		go func() {
			for i := range next {
				result, err := wkd.Lookup(ctx, client, targets[i].address)
				results[i] <- lookupResult{result: result, err: err}
			}
		}()
	}

	return results
}

// refreshTarget is an address to look up and the stored OpenPGP keys for
// it, by fingerprint.
type refreshTarget struct {
	address string
	keys    map[string]keyring.Entry
}

// refreshTargets returns the addresses of the stored, readable OpenPGP
// keys, in the order of List, or the given addresses, each of which must
// have such a key.
func refreshTargets(ctx context.Context, kr *keyring.Keyring, addresses []string, now time.Time) ([]refreshTarget, error) {
	if len(addresses) == 0 {
		entries, err := kr.List(ctx, now)
		if err != nil {
			return nil, err
		}
		return groupByAddress(entries), nil
	}

	// Find matches an address as EncryptionKey does, so every key it
	// returns is one for the address as the user typed it.
	var targets []refreshTarget
	for _, address := range addresses {
		entries, err := kr.Find(ctx, address, now)
		if err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return nil, err
		}
		target := refreshTarget{address: address, keys: make(map[string]keyring.Entry)}
		for _, e := range entries {
			if e.Kind == keyring.KindOpenPGP && e.Status != keyring.StatusUnreadable {
				target.keys[e.Fingerprint] = e
			}
		}
		if len(target.keys) == 0 {
			return nil, fmt.Errorf("no OpenPGP key for %s is stored, so there is nothing to refresh; add one with \"sealmail keyring fetch %s\"", address, address)
		}
		targets = append(targets, target)
	}
	return targets, nil
}

// groupByAddress returns one target per address of the readable OpenPGP
// entries, in order of first appearance.
func groupByAddress(entries []keyring.Entry) []refreshTarget {
	var targets []refreshTarget
	index := make(map[string]int)
	for _, e := range entries {
		if e.Kind != keyring.KindOpenPGP || e.Status == keyring.StatusUnreadable {
			continue
		}
		for _, address := range e.Addresses {
			i, ok := index[address]
			if !ok {
				i = len(targets)
				index[address] = i
				targets = append(targets, refreshTarget{address: address, keys: make(map[string]keyring.Entry)})
			}
			targets[i].keys[e.Fingerprint] = e
		}
	}
	return targets
}

// refreshAddress merges the result of the lookup of target.address, and
// returns what changed: "updated ...", "unchanged", "not found ..." or
// "skipped ...". An error means the lookup or the import failed.
func (a *app) refreshAddress(ctx context.Context, kr *keyring.Keyring, target refreshTarget, lookup lookupResult, now time.Time) (string, error) {
	// Lookup checks the address before it connects, so a stored address
	// that cannot be looked up, such as one with an IP literal for its
	// domain, ends here without a request.
	if errors.Is(lookup.err, wkd.ErrInvalidAddress) {
		return fmt.Sprintf("skipped: %v", lookup.err), nil
	}
	before := make(map[string][]byte, len(target.keys))
	for fpr := range target.keys {
		data, err := kr.Export(ctx, fpr)
		if err != nil {
			return "", err
		}
		before[fpr] = data
	}

	result, err := lookup.result, lookup.err
	if errors.Is(err, wkd.ErrNotFound) {
		return "not found: the Web Key Directory of the domain publishes no key for the address", nil
	}
	if err != nil {
		return "", err
	}
	imported, err := importFetched(ctx, kr, target.address, result)
	if err != nil {
		return "", err
	}

	var changes []string
	for _, k := range imported {
		if k.Warning != "" {
			a.progress("warning: %s", k.Warning)
		}
		fpr := strings.ToUpper(k.Fingerprint)
		old, stored := before[k.Fingerprint]
		if !stored {
			changes = append(changes, "new key "+fpr)
			continue
		}
		data, err := kr.Export(ctx, k.Fingerprint)
		if err != nil {
			return "", err
		}
		if bytes.Equal(old, data) {
			continue
		}
		change := "key " + fpr
		if detail := describeChange(ctx, kr, target.keys[k.Fingerprint], now); detail != "" {
			change += " (" + detail + ")"
		}
		changes = append(changes, change)
	}
	if len(changes) == 0 {
		return "unchanged", nil
	}
	return fmt.Sprintf("updated %s from %s", strings.Join(changes, ", "), result.URL), nil
}

// describeChange compares the stored key with its entry before the refresh
// and names a change of status or expiry, or returns "" when only packets
// that List does not show changed, such as subkeys and signatures.
func describeChange(ctx context.Context, kr *keyring.Keyring, before keyring.Entry, now time.Time) string {
	entries, err := kr.Find(ctx, before.Fingerprint, now)
	if err != nil || len(entries) == 0 {
		return ""
	}
	after := entries[0]

	var details []string
	if after.Status != before.Status {
		details = append(details, fmt.Sprintf("now %s, was %s", after.Status, before.Status))
	}
	if expiry(after.Expires) != expiry(before.Expires) {
		details = append(details, fmt.Sprintf("expires %s, was %s", expiry(after.Expires), expiry(before.Expires)))
	}
	return strings.Join(details, ", ")
}

// expiry returns the date of expires, or "never" for nil.
func expiry(expires *time.Time) string {
	if expires == nil {
		return "never"
	}
	return expires.UTC().Format(time.DateOnly)
}
