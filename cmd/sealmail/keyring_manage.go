package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/term"

	"github.com/sealmail/sealmail/keyring"
)

func (a *app) keyringShow(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring show", "keyring show [--json] ADDRESS|FINGERPRINT")
	asJSON := fs.Bool("json", false, "print a JSON document instead of text")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	_, entries, err := a.findKeys(ctx, fs, "keyring show: give one address, fingerprint or key ID")
	if err != nil {
		return err
	}
	warnProvenance(a, entries)

	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"keys": entries})
	}
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		printEntry(a.stdout, e)
	}
	return nil
}

// findKeys opens the keyring of an existing home and finds the keys that
// the one argument of fs names; without exactly one argument it returns a
// usage error with the message usage.
func (a *app) findKeys(ctx context.Context, fs *flag.FlagSet, usage string) (*keyring.Keyring, []keyring.Entry, error) {
	if fs.NArg() != 1 {
		return nil, nil, usagef("%s", usage)
	}
	kr, err := a.openExistingKeyring()
	if err != nil {
		return nil, nil, err
	}
	entries, err := kr.Find(ctx, fs.Arg(0), time.Now())
	if errors.Is(err, keyring.ErrInvalidQuery) {
		return nil, nil, usagef("%v", err)
	}
	if err != nil {
		return nil, nil, err
	}
	return kr, entries, nil
}

// printEntry writes one key as labelled lines, and each subkey as a block
// of lines indented under a "subkey" line.
func printEntry(w io.Writer, e keyring.Entry) {
	fmt.Fprintf(w, "fingerprint  %s\n", strings.ToUpper(e.Fingerprint))
	fmt.Fprintf(w, "status       %s\n", e.Status)
	if e.Problem != "" {
		fmt.Fprintf(w, "problem      %s\n", e.Problem)
	}
	if e.Path != "" {
		fmt.Fprintf(w, "file         %s\n", e.Path)
	}
	if e.Algorithm != "" {
		fmt.Fprintf(w, "algorithm    %s\n", e.Algorithm)
	}
	if !e.Created.IsZero() {
		fmt.Fprintf(w, "created      %s\n", e.Created.UTC().Format(time.DateOnly))
	}
	if e.Expires != nil {
		fmt.Fprintf(w, "expires      %s\n", e.Expires.UTC().Format(time.DateOnly))
	}
	for _, uid := range e.UserIDs {
		fmt.Fprintf(w, "user ID      %s\n", printable(uid))
	}
	if e.Kind == keyring.KindOpenPGP && e.Status != keyring.StatusUnreadable {
		fmt.Fprintf(w, "origin       %s\n", originDetail(e.Origin, e.Source))
		confirmed := "no"
		if e.Confirmed != nil {
			confirmed = e.Confirmed.UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(w, "confirmed    %s\n", confirmed)
	}
	if e.Secret {
		fmt.Fprintf(w, "secret key   yes\n")
	}
	for _, subkey := range e.Subkeys {
		printSubkey(w, subkey)
	}
}

// printSubkey writes the lines of one subkey for printEntry, with the
// values in the column of the key's values.
func printSubkey(w io.Writer, subkey keyring.Subkey) {
	fmt.Fprintf(w, "subkey       %s\n", strings.ToUpper(subkey.Fingerprint))
	fmt.Fprintf(w, "  algorithm  %s\n", subkey.Algorithm)
	usage := "none"
	if len(subkey.Usage) > 0 {
		usage = strings.Join(subkey.Usage, ", ")
	}
	fmt.Fprintf(w, "  usage      %s\n", usage)
	fmt.Fprintf(w, "  created    %s\n", subkey.Created.UTC().Format(time.DateOnly))
	expires := "never"
	if subkey.Expires != nil {
		expires = subkey.Expires.UTC().Format(time.DateOnly)
	}
	fmt.Fprintf(w, "  expires    %s\n", expires)
	status := string(subkey.Status)
	if subkey.SelectedForEncryption {
		status += ", used for encryption"
	}
	fmt.Fprintf(w, "  status     %s\n", status)
}

func (a *app) keyringExport(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring export", "keyring export [--minimal] [--binary] ADDRESS|FINGERPRINT")
	binary := fs.Bool("binary", false, "write the binary certificate (OpenPGP packets or X.509 DER) instead of armor or PEM")
	minimal := fs.Bool("minimal", false, "write only the primary key, one user ID and the encryption subkey, with their newest self-signatures (OpenPGP only)")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if *binary {
		if f, ok := a.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return usagef("keyring export: --binary would write raw bytes to the terminal: redirect standard output to a file, or drop --binary for armor")
		}
	}
	kr, entries, err := a.findKeys(ctx, fs, "keyring export: give one address, fingerprint or key ID")
	if err != nil {
		return err
	}
	entry, err := a.exportChoice(ctx, kr, fs.Arg(0), entries)
	if err != nil {
		return err
	}
	if *minimal && entry.Kind != keyring.KindOpenPGP {
		return usagef("keyring export: --minimal is for OpenPGP keys only, but %s is an X.509 certificate: export it without --minimal", strings.ToUpper(entry.Fingerprint))
	}

	// Export and ExportMinimal return only the certificate, so secret key
	// material never leaves the keyring through this command.
	var cert []byte
	if *minimal {
		// For an address, the user ID of that address is kept. For a
		// fingerprint or key ID, the primary user ID is kept.
		address := ""
		if strings.Contains(fs.Arg(0), "@") {
			address = fs.Arg(0)
		}
		cert, err = kr.ExportMinimal(ctx, entry.Fingerprint, address)
	} else {
		cert, err = kr.Export(ctx, entry.Fingerprint)
	}
	if err != nil {
		return err
	}
	if *binary {
		_, err := a.stdout.Write(cert)
		return err
	}
	if entry.Kind == keyring.KindX509 {
		_, err := a.stdout.Write(pemCertificates(&x509.Certificate{Raw: cert}))
		return err
	}
	aw, err := armor.Encode(a.stdout, "PGP PUBLIC KEY BLOCK", nil)
	if err != nil {
		return err
	}
	if _, err := aw.Write(cert); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(a.stdout, "\n")
	return err
}

// exportChoice returns the one entry of entries to export for query. For an
// address that several keys match, it is the key sealmail uses for that
// address: the user's own signing key, else the key mail to the address is
// encrypted to. A note on standard error names the others.
func (a *app) exportChoice(ctx context.Context, kr *keyring.Keyring, query string, entries []keyring.Entry) (keyring.Entry, error) {
	if len(entries) == 1 {
		return entries[0], nil
	}
	fprs := make([]string, len(entries))
	for i, e := range entries {
		fprs[i] = strings.ToUpper(e.Fingerprint)
	}
	if strings.Contains(query, "@") {
		var used *openpgp.Entity
		if key, err := kr.SigningKey(ctx, query, time.Now()); err == nil {
			used = key
		} else if key, err := kr.EncryptionKey(ctx, query, time.Now()); err == nil {
			used = key
		}
		for _, e := range entries {
			if used != nil && e.Kind == keyring.KindOpenPGP && strings.EqualFold(e.Fingerprint, fingerprintHex(used)) {
				a.progress("note: %d keys match %q, so exporting %s, the one sealmail uses for it (give a fingerprint to export another: %s)",
					len(entries), query, strings.ToUpper(e.Fingerprint), strings.Join(fprs, ", "))
				return e, nil
			}
		}
	}
	return keyring.Entry{}, fmt.Errorf("%d keys match %q, and sealmail uses none of them: pass one of these fingerprints: %s",
		len(entries), query, strings.Join(fprs, ", "))
}

func (a *app) keyringRemove(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring remove", "keyring remove [--yes] FINGERPRINT")
	yes := fs.Bool("yes", false, "remove without a confirmation prompt, for scripts")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	kr, entries, err := a.findKeys(ctx, fs, "keyring remove: give the full fingerprint of one key")
	if err != nil {
		return err
	}
	e := entries[0]
	// Find also accepts addresses, key IDs and subkey fingerprints, but
	// removal requires the full fingerprint of the key, so that a typo
	// cannot remove another key.
	query := strings.ToLower(normalizeFingerprint(fs.Arg(0)))
	switch {
	case len(entries) == 1 && query == e.Fingerprint:
	case len(entries) == 1 && (len(query) == 40 || len(query) == 64):
		return usagef("keyring remove: %s is the fingerprint of a subkey of key %s: give the key's own fingerprint to remove the key with its subkeys", strings.ToUpper(query), strings.ToUpper(e.Fingerprint))
	default:
		return usagef("keyring remove: %q is not the full fingerprint of a key, which removal requires so that a typo cannot remove another key. Find it with \"sealmail keyring show %s\"", fs.Arg(0), fs.Arg(0))
	}

	if !*yes {
		ok, err := a.confirm(ctx, fmt.Sprintf("Remove %s %s%s? [y/N] ", strings.ToUpper(e.Fingerprint), printableList(e.UserIDs), secretNote(e)))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("nothing was removed")
		}
	}
	removedSecret, err := kr.Remove(ctx, e.Fingerprint)
	if err != nil {
		return err
	}
	what := "the certificate"
	if removedSecret {
		what = "the certificate and the secret key"
	}
	fmt.Fprintf(a.stdout, "removed %s of %s\n", what, strings.ToUpper(e.Fingerprint))
	return nil
}

func secretNote(e keyring.Entry) string {
	if e.Secret {
		return " and its SECRET KEY"
	}
	return ""
}

// normalizeFingerprint drops the spaces and a 0x prefix people paste.
func normalizeFingerprint(s string) string {
	s = strings.ReplaceAll(s, " ", "")
	return strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
}

// confirm prints question on the terminal and reports whether the reply is
// yes. Without a terminal it fails, because a script must pass --yes.
func (a *app) confirm(ctx context.Context, question string) (bool, error) {
	tty, ok := openTerminal()
	if !ok {
		return false, usagef("no terminal for the confirmation prompt: pass --yes to remove without a prompt")
	}
	defer tty.Close()
	fmt.Fprint(tty, question)
	answer, err := readReply(ctx, bufio.NewReader(tty))
	if err != nil {
		fmt.Fprintln(tty)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("failed to read the reply from the terminal: %w", err)
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}
