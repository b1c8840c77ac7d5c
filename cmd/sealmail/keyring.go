package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealmail/sealmail/keyring"
)

const keyringUsage = `Usage:
  sealmail keyring generate [flags] ADDRESS    make your own OpenPGP key, protected by a passphrase
  sealmail keyring import FILE...              import OpenPGP keys, X.509 certificates or PKCS#12 bundles ("-" reads standard input)
  sealmail keyring fetch ADDRESS...            look up OpenPGP keys in the Web Key Directories of their domains and store them
  sealmail keyring refresh [ADDRESS...]        look up the stored OpenPGP keys again and merge updates, such as revocations
  sealmail keyring trust FILE...               add X.509 trust anchors for S/MIME
  sealmail keyring list [flags] [ADDRESS...]   list the keys in the keyring, or those for the addresses
  sealmail keyring show ADDRESS|FINGERPRINT    show the keys for an address or fingerprint
  sealmail keyring export [flags] QUERY        write the certificate for an address or fingerprint (OpenPGP armor or X.509 PEM), or with --secret your own secret key
  sealmail keyring remove [flags] FINGERPRINT  remove a key, certificate or trust anchor; --secret also deletes its secret key
  sealmail keyring confirm FINGERPRINT...      record that you checked the fingerprints of OpenPGP keys with their owners
`

func (a *app) keyring(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, keyringUsage)
		return usagef("keyring: missing subcommand")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "generate":
		return a.keyringGenerate(ctx, rest)
	case "import":
		return a.keyringImport(ctx, rest)
	case "fetch":
		return a.keyringFetch(ctx, rest)
	case "refresh":
		return a.keyringRefresh(ctx, rest)
	case "list":
		return a.keyringList(ctx, rest)
	case "trust":
		return a.keyringTrust(ctx, rest)
	case "show":
		return a.keyringShow(ctx, rest)
	case "export":
		return a.keyringExport(ctx, rest)
	case "remove":
		return a.keyringRemove(ctx, rest)
	case "confirm":
		return a.keyringConfirm(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, keyringUsage)
		return nil
	default:
		return usagef("unknown keyring subcommand %q", cmd)
	}
}

// openKeyring opens the keyring of the home.
func (a *app) openKeyring() (*keyring.Keyring, error) {
	h, err := a.openHome()
	if err != nil {
		return nil, err
	}
	return h.keyring()
}

// openExistingKeyring opens the keyring of a home that exists already, so
// that a mistyped --home is reported instead of created empty.
func (a *app) openExistingKeyring() (*keyring.Keyring, error) {
	dir, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the sealmail home %s does not exist: check --home and SEALMAIL_HOME, or import keys first with \"sealmail keyring import FILE\"", dir)
	}
	return a.openKeyring()
}

func (a *app) keyringImport(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring import", "keyring import [--passphrase-file FILE] FILE...")
	var passphraseFile onceFlag
	fs.Var(&passphraseFile, "passphrase-file", "read the password of PKCS#12 bundles from `FILE` (or set SEALMAIL_PASSPHRASE)")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("keyring import: missing FILE (or - for standard input)")
	}
	kr, err := a.openKeyring()
	if err != nil {
		return err
	}

	// Each file is imported on its own, so one bad file does not keep the
	// others out. The command fails at the end if any file failed.
	var failed []string
	for _, name := range fs.Args() {
		imported, err := a.importFile(ctx, kr, name, passphraseFile.value)
		if err != nil && ctx.Err() != nil {
			// An interrupt, such as Ctrl-C at the passphrase prompt,
			// stops the import instead of continuing with the next file.
			return ctx.Err()
		}
		if err != nil {
			a.progress("failed to import %s: %v", name, err)
			failed = append(failed, name)
			continue
		}
		for _, k := range imported {
			verb := importVerb(k)
			kind := "public key"
			switch {
			case k.Kind == keyring.KindX509 && k.Secret:
				kind = "S/MIME identity"
			case k.Kind == keyring.KindX509:
				kind = "certificate"
			case k.Secret:
				kind = "secret key"
			}
			notes := ""
			if k.NowRevoked {
				notes = " (now revoked)"
			}
			if k.NewProtection {
				notes += " (new protection)"
			}
			fmt.Fprintf(a.stdout, "%s %s %s %s%s%s\n", verb, kind, strings.ToUpper(k.Fingerprint), printableList(k.UserIDs), notes, importOrigin(ctx, kr, k))
			if k.Warning != "" {
				a.progress("warning: %s", k.Warning)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d files were not imported: %s", len(failed), fs.NArg(), strings.Join(failed, ", "))
	}
	return nil
}

// importFile imports the keys in the file name, or in standard input for
// "-". The password of a PKCS#12 bundle comes from passphraseFile,
// SEALMAIL_PASSPHRASE or the terminal, asked only when the file is one.
func (a *app) importFile(ctx context.Context, kr *keyring.Keyring, name, passphraseFile string) ([]keyring.Imported, error) {
	var r io.Reader = a.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	source := name
	if name == "-" {
		source = "standard input"
	} else if abs, err := filepath.Abs(name); err == nil {
		source = abs
	}
	var passwordRequested, prompted bool
	opts := keyring.ImportOptions{
		Password: func() ([]byte, error) {
			password, typed, err := a.passphrase(ctx, name, passphraseFile)
			passwordRequested, prompted = true, typed
			return password, err
		},
		Source: source,
	}
	imported, err := kr.ImportWithOptions(ctx, r, opts)
	if passwordRequested && errors.Is(err, keyring.ErrWrongPassphrase) {
		// The password is prompted for once here, unlike at signing, so the
		// hint of wrongSecretHint for a typed password does not fit.
		hint := "the password was typed at the terminal; import the file again and type the password that the bundle was exported with"
		if !prompted {
			hint = a.wrongSecretHint("password", passphraseFile, "")
		}
		return nil, fmt.Errorf("wrong password for the PKCS#12 bundle: %s", hint)
	}
	if errors.Is(err, keyring.ErrSecretKey) {
		return nil, fmt.Errorf("%w; import a secret key from a file of its own, such as one written by \"gpg --export-secret-keys\": a message should never carry one, because everyone who can read the message can use the key", err)
	}
	return imported, err
}

func (a *app) keyringTrust(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring trust", "keyring trust FILE...")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("keyring trust: missing FILE with the CA certificate to trust for S/MIME")
	}
	kr, err := a.openKeyring()
	if err != nil {
		return err
	}
	for _, name := range fs.Args() {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("failed to add a trust anchor: %w", err)
		}
		// The keyring's message for a private key is advice for import,
		// so trust names what it takes instead.
		if holdsPrivateKey(data) {
			return usagef("keyring trust: %s contains a private key, but trust takes the certificate of a certificate authority (PEM or DER), such as ca.pem; import your own S/MIME identity with \"sealmail keyring import FILE.p12\"", name)
		}
		imported, err := kr.AddTrustAnchor(ctx, bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("failed to add the trust anchors in %s: %w", name, err)
		}
		for _, k := range imported {
			fmt.Fprintf(a.stdout, "trusted %s %s\n", strings.ToUpper(k.Fingerprint), printableList(k.UserIDs))
		}
	}
	return nil
}

// holdsPrivateKey reports whether data is a private key in PEM, or a
// PKCS#8, PKCS#1 or SEC 1 private key in DER.
func holdsPrivateKey(data []byte) bool {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return true
		}
	}
	if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(data)
	return err == nil
}

func (a *app) keyringList(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keyring list", "keyring list [--json] [--status STATUS] [--kind openpgp|x509] [--secret] [ADDRESS...]")
	asJSON := fs.Bool("json", false, "print a JSON document instead of a table")
	var status, kind onceFlag
	fs.Var(&status, "status", "list only the keys with this `STATUS`, such as valid, expired or revoked, or expiring: valid but expiring within 30 days")
	fs.Var(&kind, "kind", "list only OpenPGP keys (openpgp) or X.509 certificates (x509)")
	secretOnly := fs.Bool("secret", false, "list only keys with a secret key: your own keys and S/MIME identities")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	filter, err := newListFilter(status.value, kind.value, *secretOnly, fs.Args())
	if err != nil {
		return err
	}
	kr, err := a.openExistingKeyring()
	if err != nil {
		return err
	}
	now := time.Now()
	// A list by address parses only the certificates the index offers for
	// the addresses, as a lookup by send does.
	var entries []keyring.Entry
	if len(filter.addresses) > 0 {
		entries, err = kr.ListAddresses(ctx, now, filter.addresses)
	} else {
		entries, err = kr.List(ctx, now)
	}
	if err != nil {
		return err
	}

	if len(entries) == 0 && len(filter.addresses) == 0 && !*asJSON {
		a.progress(`the keyring is empty; add keys with "sealmail keyring import FILE" or "sealmail keyring generate ADDRESS"`)
		return nil
	}
	// An address without any key is an error, as in gpg --list-keys; one
	// whose keys the other filters leave out is not.
	missing := filter.missingAddresses(entries)
	entries = filter.apply(entries, now)
	warnProvenance(a, entries)
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"keys": entries}); err != nil {
			return err
		}
		return noKeyError(missing)
	}
	if len(entries) == 0 {
		if len(missing) == 0 {
			a.progress("no key in the keyring matches the filters")
		}
		return noKeyError(missing)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, e := range entries {
		secret := ""
		if e.Secret {
			secret = " (secret key)"
		}
		if e.Status == keyring.StatusUnreadable {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s: %s\n", e.Kind, strings.ToUpper(e.Fingerprint), e.Status, e.Path, e.Problem)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", e.Kind, strings.ToUpper(e.Fingerprint), e.Status, e.Algorithm,
			describeExpiry(e, now), describeProvenance(e), printableList(e.UserIDs), secret)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return noKeyError(missing)
}
