package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

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
		if c := describeConfirmation(e); c != "not confirmed" {
			confirmed = e.Confirmed.UTC().Format(time.DateOnly)
			if c != "confirmed" {
				confirmed += ", " + c
			}
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

const exportSynopsis = "keyring export [--minimal] [--binary] [--secret] [--output FILE] ADDRESS|FINGERPRINT"

func (a *app) keyringExport(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring export", exportSynopsis)
	binary := fs.Bool("binary", false, "write the binary form (OpenPGP packets or X.509 DER) instead of armor or PEM")
	minimal := fs.Bool("minimal", false, "write only the primary key, one user ID and the encryption subkey, with their newest self-signatures (OpenPGP only)")
	secret := fs.Bool("secret", false, "write your own secret key as it is stored, still protected by its passphrase, for a backup or for gpg (an S/MIME identity is written as its PKCS#12 bundle)")
	var output onceFlag
	fs.Var(&output, "output", "write to the new `FILE` instead of standard output (\"-\" is standard output); a secret key file gets mode 0600")
	fs.Var(&output, "o", "short for --output")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	// "-" names standard output, as it names standard input for import.
	if output.value == "-" {
		output.value = ""
	}
	if *secret && *minimal {
		return usagef("keyring export: --minimal is for sharing a certificate and --secret is for a backup of a secret key: give one of them")
	}
	if *binary && output.value == "" && a.stdoutIsTerminal() {
		return usagef("keyring export: --binary would write raw bytes to the terminal: redirect standard output to a file, give --output FILE, or drop --binary for armor")
	}
	kr, entries, err := a.findKeys(ctx, fs, "keyring export: give one address, fingerprint or key ID")
	if err != nil {
		return err
	}
	if *secret {
		entries = withSecretKey(entries)
		if len(entries) == 0 {
			return fmt.Errorf("keyring export: the keyring contains no secret key for %q; \"sealmail keyring list --secret\" lists your own keys and S/MIME identities", fs.Arg(0))
		}
	}
	entry, err := a.exportChoice(ctx, kr, fs.Arg(0), entries)
	if err != nil {
		return err
	}
	if *minimal && entry.Kind != keyring.KindOpenPGP {
		return usagef("keyring export: --minimal is for OpenPGP keys only, but %s is an X.509 certificate: export it without --minimal", strings.ToUpper(entry.Fingerprint))
	}

	if *secret {
		return a.exportSecret(ctx, kr, entry, *binary, output.value)
	}
	// Export and ExportMinimal return only the certificate, so secret key
	// material never leaves the keyring without --secret.
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
	switch {
	case *binary:
	case entry.Kind == keyring.KindX509:
		cert = pemCertificates(&x509.Certificate{Raw: cert})
	default:
		if cert, err = armored(openpgp.PublicKeyType, cert); err != nil {
			return err
		}
	}
	return a.writeExport(output.value, 0o644, cert)
}

// exportSecret writes the stored secret key of entry as ExportSecret
// returns it: an OpenPGP key armored unless binary is set, an S/MIME
// identity as its PKCS#12 bundle, which has no text form.
func (a *app) exportSecret(ctx context.Context, kr *keyring.Keyring, entry keyring.Entry, binary bool, output string) error {
	if entry.Kind == keyring.KindX509 && output == "" && !binary {
		return usagef("keyring export: the S/MIME identity %s is a binary PKCS#12 bundle: give --output FILE.p12, or --binary with standard output redirected to a file", strings.ToUpper(entry.Fingerprint))
	}
	data, protected, err := kr.ExportSecret(ctx, entry.Fingerprint)
	if err != nil {
		return err
	}
	if !protected {
		a.progress("warning: the secret key %s is not protected by a passphrase, so anyone who reads the exported copy can sign and decrypt as you: keep it on storage only you can read, or set a passphrase in gpg (gpg --passwd) and import it again", strings.ToUpper(entry.Fingerprint))
	}
	if entry.Kind == keyring.KindOpenPGP && !binary {
		if data, err = armored(openpgp.PrivateKeyType, data); err != nil {
			return err
		}
	}
	return a.writeExport(output, 0o600, data)
}

// withSecretKey returns the entries that have a stored secret key.
func withSecretKey(entries []keyring.Entry) []keyring.Entry {
	var own []keyring.Entry
	for _, e := range entries {
		if e.Secret {
			own = append(own, e)
		}
	}
	return own
}

// armored returns data in OpenPGP armor of blockType, with a final newline.
func armored(blockType string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	err := writeArmored(&buf, blockType, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return buf.Bytes(), err
}

// writeExport writes data to standard output, or to the file output, which
// must not exist yet, so that an export never overwrites a key file.
func (a *app) writeExport(output string, mode os.FileMode, data []byte) error {
	if output == "" {
		_, err := a.stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keyring export: %s exists already: remove it first or give another --output file", output)
	}
	if err != nil {
		return fmt.Errorf("keyring export: failed to create %s: %w", output, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(output)
		return fmt.Errorf("keyring export: failed to write %s: %w", output, err)
	}
	a.progress("wrote %s", output)
	return nil
}

// stdoutIsTerminal reports whether standard output is a terminal.
func (a *app) stdoutIsTerminal() bool {
	f, ok := a.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
	fs := a.newFlagSet("keyring remove", "keyring remove [--yes] [--secret] FINGERPRINT")
	yes := fs.Bool("yes", false, "remove without a confirmation prompt, for scripts")
	secret := fs.Bool("secret", false, "also delete the secret key or S/MIME identity, which may be its only copy")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	kr, entries, err := a.findKeys(ctx, fs, "keyring remove: give the full fingerprint of one key or certificate")
	if err != nil {
		return err
	}
	e := entries[0]
	// Find also accepts addresses, key IDs and subkey fingerprints, but
	// removal requires the full fingerprint of the key, so that a typo
	// cannot remove another key. An X.509 certificate that is also a trust
	// anchor is two entries with one fingerprint, and both go.
	query := strings.ToLower(normalizeFingerprint(fs.Arg(0)))
	switch {
	case allHaveFingerprint(entries, query):
	case len(entries) == 1 && (len(query) == 40 || len(query) == 64):
		return usagef("keyring remove: %s is the fingerprint of a subkey of key %s: give the key's own fingerprint to remove the key with its subkeys", strings.ToUpper(query), strings.ToUpper(e.Fingerprint))
	default:
		return usagef("keyring remove: %q is not the full fingerprint of a key or certificate, which removal requires so that a typo cannot remove another key. Find it with \"sealmail keyring show %s\"", fs.Arg(0), fs.Arg(0))
	}
	fpr := strings.ToUpper(e.Fingerprint)
	removed := publicKinds(entries)
	if hasSecret(entries) && !*secret {
		return usagef("keyring remove: the keyring contains the %s of %s, which may be its only copy: export it first with \"sealmail keyring export --secret --output FILE %s\", then give --secret to delete it with the %s",
			secretKind(e), fpr, fpr, removed)
	}

	if !*yes {
		ok, err := a.confirm(ctx, removeQuestion(entries))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("nothing was removed")
		}
	}
	removedSecret, err := kr.RemoveKey(ctx, e.Fingerprint, keyring.RemoveOptions{Secret: *secret})
	if errors.Is(err, keyring.ErrSecretKeyStored) {
		// RemoveKey also finds a secret key file that cannot be read, which
		// the lookup above may not have shown.
		return fmt.Errorf("keyring remove: the keyring contains a secret key file for %s, which another program stored after the check or which cannot be read, so nothing was removed: run the command again to see it", fpr)
	}
	if err != nil {
		return err
	}
	if removedSecret {
		removed += " and the " + secretKind(e)
	}
	fmt.Fprintf(a.stdout, "removed the %s of %s\n", removed, fpr)
	return nil
}

// allHaveFingerprint reports whether every entry has the lowercase
// fingerprint fpr.
func allHaveFingerprint(entries []keyring.Entry, fpr string) bool {
	for _, e := range entries {
		if e.Fingerprint != fpr {
			return false
		}
	}
	return true
}

// hasSecret reports whether any of entries has a stored secret key.
func hasSecret(entries []keyring.Entry) bool {
	return len(withSecretKey(entries)) > 0
}

// removeQuestion returns the confirmation prompt of keyring remove for the
// entries of one fingerprint. A secret key gets lines of its own, because
// deleting it cannot be undone unless it was exported.
func removeQuestion(entries []keyring.Entry) string {
	e := entries[0]
	fpr := strings.ToUpper(e.Fingerprint)
	question := fmt.Sprintf("Remove the %s %s %s", publicKinds(entries), fpr, printableList(e.UserIDs))
	if !hasSecret(entries) {
		return question + "? [y/N] "
	}
	return question + fmt.Sprintf(" and DELETE its %s?\n"+
		"The keyring may hold its only copy: \"sealmail keyring export --secret --output FILE %s\" saves one first.\n"+
		"Delete the %s? [y/N] ", secretKind(e), fpr, secretKind(e))
}

// publicKinds describes what entries of one fingerprint contain besides a
// secret key: an OpenPGP certificate, an X.509 certificate, a trust anchor, or an
// X.509 certificate that is a trust anchor too.
func publicKinds(entries []keyring.Entry) string {
	var kinds []string
	for _, e := range entries {
		switch {
		case e.Kind == keyring.KindOpenPGP:
			kinds = append(kinds, "certificate")
		case e.Status == keyring.StatusAnchor:
			kinds = append(kinds, "trust anchor")
		default:
			kinds = append(kinds, "X.509 certificate")
		}
	}
	return strings.Join(kinds, " and the ")
}

// secretKind names the secret part of e in messages.
func secretKind(e keyring.Entry) string {
	if e.Kind == keyring.KindX509 {
		return "S/MIME identity (PKCS#12 bundle)"
	}
	return "secret key"
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
