package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/sealmail/sealmail/keyring"
)

// stdinIsTerminal reports whether the standard input r is a terminal, where
// "keyring confirm" may ask. Tests replace it.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// keyringConfirm records that the user checked the fingerprints of OpenPGP
// keys with their owners. Only full fingerprints are accepted, so that a
// short key ID, which anyone can make a key for, cannot confirm the wrong
// key.
func (a *app) keyringConfirm(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring confirm", "keyring confirm [--yes] FINGERPRINT...")
	yes := fs.Bool("yes", false, "confirm without a prompt, for scripts (check each fingerprint with the key's owner first)")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("keyring confirm: missing FINGERPRINT: give the full fingerprint of the key, as \"sealmail keyring show ADDRESS\" prints it")
	}
	fingerprints := make([]string, fs.NArg())
	for i, arg := range fs.Args() {
		fpr, ok := fullFingerprint(arg)
		if !ok {
			return usagef("keyring confirm: %q is not a full fingerprint: give all 40 (or, for a v6 key, 64) hex digits, as \"sealmail keyring show ADDRESS\" prints them, so that a short key ID cannot confirm the wrong key", arg)
		}
		fingerprints[i] = fpr
	}
	interactive := stdinIsTerminal(a.stdin)
	if !*yes && !interactive {
		return usagef("keyring confirm: standard input is not a terminal, so sealmail cannot ask: check each fingerprint with the key's owner, then pass --yes")
	}

	kr, err := a.openExistingKeyring()
	if err != nil {
		return err
	}
	// Every key is looked up before the first is confirmed, so that a typo
	// in the last fingerprint confirms nothing.
	entries := make([]keyring.Entry, len(fingerprints))
	provenances := make([]keyring.Provenance, len(fingerprints))
	for i, fpr := range fingerprints {
		if entries[i], err = findPrimaryKey(ctx, kr, fpr); err != nil {
			return err
		}
		if len(entries[i].Addresses) == 0 {
			return fmt.Errorf("keyring confirm: key %s has no user ID with an email address, so there is nothing to confirm: a confirmation covers the addresses of a key's user IDs", strings.ToUpper(fpr))
		}
		if provenances[i], err = kr.Provenance(ctx, fpr); err != nil {
			return err
		}
	}

	replies := bufio.NewReader(a.stdin)
	var declined []string
	for i, e := range entries {
		fpr := strings.ToUpper(e.Fingerprint)
		// A confirmation covers the addresses the key has now, so a key
		// that gained a user ID since its confirmation is asked about
		// again.
		pending := unconfirmedAddresses(provenances[i], e.Addresses)
		if len(pending) == 0 {
			fmt.Fprintf(a.stdout, "key %s was already confirmed on %s for %s\n", fpr, provenances[i].Confirmed.UTC().Format(time.DateOnly), printableList(e.Addresses))
			continue
		}
		if !*yes {
			ok, err := a.askConfirmation(ctx, replies, e, pending)
			if err != nil {
				return err
			}
			if !ok {
				declined = append(declined, fpr)
				continue
			}
		}
		// Only the addresses shown are confirmed: an import while the
		// user read the prompt may have added a user ID since.
		if _, err := kr.Confirm(ctx, e.Fingerprint, pending, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "confirmed key %s %s\n", fpr, printableList(e.UserIDs))
	}
	if len(declined) > 0 {
		return fmt.Errorf("%d of %d keys were not confirmed: %s", len(declined), len(entries), strings.Join(declined, ", "))
	}
	return nil
}

// fullFingerprint returns s as the lowercase hex of a v4 or v6 fingerprint,
// accepting the "0x" prefix and the spaces that GnuPG prints between groups,
// and reports whether s is one.
func fullFingerprint(s string) (string, bool) {
	hex := strings.ToLower(strings.Join(strings.Fields(s), ""))
	hex = strings.TrimPrefix(hex, "0x")
	if len(hex) != 40 && len(hex) != 64 {
		return "", false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return hex, true
}

// findPrimaryKey returns the stored OpenPGP key whose primary key has the
// fingerprint fpr. The fingerprint of a subkey or of an X.509 certificate
// is an error that names what to give instead.
func findPrimaryKey(ctx context.Context, kr *keyring.Keyring, fpr string) (keyring.Entry, error) {
	entries, err := kr.Find(ctx, fpr, time.Now())
	if errors.Is(err, keyring.ErrNotFound) {
		return keyring.Entry{}, fmt.Errorf("keyring confirm: no key with the fingerprint %s in the keyring; list the stored keys with \"sealmail keyring list\"", strings.ToUpper(fpr))
	}
	if err != nil {
		return keyring.Entry{}, fmt.Errorf("keyring confirm: failed to look up key %s: %w", strings.ToUpper(fpr), err)
	}
	for _, e := range entries {
		if e.Kind == keyring.KindOpenPGP && e.Fingerprint == fpr && e.Status != keyring.StatusUnreadable {
			return e, nil
		}
	}
	e := entries[0]
	switch {
	case e.Status == keyring.StatusUnreadable:
		return keyring.Entry{}, fmt.Errorf("keyring confirm: the stored file of key %s cannot be read (%s): %s; import the key again", strings.ToUpper(fpr), e.Path, e.Problem)
	case e.Kind == keyring.KindX509:
		return keyring.Entry{}, fmt.Errorf("keyring confirm: %s is an X.509 certificate, which needs no confirmation: sealmail validates S/MIME certificates against the trust anchors added with \"sealmail keyring trust\"", strings.ToUpper(fpr))
	default:
		return keyring.Entry{}, fmt.Errorf("keyring confirm: %s is the fingerprint of a subkey of key %s: confirm the primary key's fingerprint instead", strings.ToUpper(fpr), strings.ToUpper(e.Fingerprint))
	}
}

// askConfirmation shows the key e, and the addresses pending that the
// confirmation would cover, on standard error and reads the reply
// from replies, the terminal on standard input. Only "y" or "yes" confirms.
func (a *app) askConfirmation(ctx context.Context, replies *bufio.Reader, e keyring.Entry, pending []string) (bool, error) {
	fmt.Fprintf(a.stderr, "\nfingerprint  %s\n", groupedFingerprint(e.Fingerprint))
	for _, id := range e.UserIDs {
		fmt.Fprintf(a.stderr, "user ID      %s\n", printable(id))
	}
	confirmed := slices.DeleteFunc(slices.Clone(e.Addresses), func(address string) bool {
		return slices.Contains(pending, address)
	})
	if len(confirmed) > 0 {
		fmt.Fprintf(a.stderr, "confirmed    for %s before\n", printableList(confirmed))
	}
	fmt.Fprintf(a.stderr, "to confirm   for %s\n", printableList(pending))
	fmt.Fprintf(a.stderr, "origin       %s\n", originDetail(e.Origin, e.Source))
	if !e.Created.IsZero() {
		fmt.Fprintf(a.stderr, "created      %s\n", e.Created.UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(a.stderr, "status       %s\n", e.Status)
	fmt.Fprintf(a.stderr, "Is this the fingerprint that the key's owner gave you? Confirm? [y/N] ")

	line, err := readReply(ctx, replies)
	if err != nil {
		fmt.Fprintln(a.stderr)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("keyring confirm: failed to read the reply from the terminal: %w", err)
	}
	reply := strings.ToLower(strings.TrimSpace(line))
	return reply == "y" || reply == "yes", nil
}

// unconfirmedAddresses returns those of addresses that p is not confirmed
// for.
func unconfirmedAddresses(p keyring.Provenance, addresses []string) []string {
	var pending []string
	for _, address := range addresses {
		if !p.ConfirmedFor(address) {
			pending = append(pending, address)
		}
	}
	return pending
}

// groupedFingerprint returns fpr in uppercase groups of 4 hex digits, as
// GnuPG prints it, so that it can be read aloud and compared.
func groupedFingerprint(fpr string) string {
	fpr = strings.ToUpper(fpr)
	var groups []string
	for len(fpr) > 4 {
		groups = append(groups, fpr[:4])
		fpr = fpr[4:]
	}
	return strings.Join(append(groups, fpr), " ")
}
