package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/rogpeppe/go-internal/testscript"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/sealmail/sealmail/keyring"
)

// cmdImportOrigin imports keys into the keyring of the script's home
// through the library, as a key from a Web Key Directory or an Autocrypt
// header arrives:
//
//	importorigin ORIGIN FILE
//
// ORIGIN is a keyring.Origin, such as wkd or autocrypt. The warnings of the
// import go to standard output.
func cmdImportOrigin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: importorigin ORIGIN FILE")
	}
	kr, err := keyring.Open(filepath.Join(ts.Getenv("SEALMAIL_HOME"), "keyring"))
	ts.Check(err)
	f, err := os.Open(ts.MkAbs(args[1]))
	ts.Check(err)
	defer f.Close()

	imported, err := kr.ImportWithOptions(context.Background(), f, keyring.ImportOptions{
		Origin: keyring.Origin(args[0]),
		Source: "test " + args[0],
	})
	ts.Check(err)
	for _, k := range imported {
		fmt.Fprintf(ts.Stdout(), "imported %s\n", strings.ToUpper(k.Fingerprint))
		if k.Warning != "" {
			fmt.Fprintf(ts.Stdout(), "warning: %s\n", k.Warning)
		}
	}
}

// cmdPGPRecipients prints the primary key fingerprint of each key that an
// encrypted PGP/MIME message is encrypted to, one a line:
//
//	pgprecipients MESSAGE KEYFILE...
//
// It looks up the key ID of each PKESK packet of the message in the
// armored keys of the KEYFILEs. An ID that none of them has is printed as
// "unknown ID".
func cmdPGPRecipients(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: pgprecipients MESSAGE KEYFILE...")
	}
	var keys openpgp.EntityList
	for _, name := range args[1:] {
		f, err := os.Open(ts.MkAbs(name))
		ts.Check(err)
		list, err := openpgp.ReadArmoredKeyRing(f)
		f.Close()
		ts.Check(err)
		keys = append(keys, list...)
	}

	ids, err := messageKeyIDs(ts.MkAbs(args[0]))
	ts.Check(err)
	for _, id := range ids {
		found := keys.KeysById(id)
		if len(found) == 0 {
			fmt.Fprintf(ts.Stdout(), "unknown %016X\n", id)
			continue
		}
		fmt.Fprintf(ts.Stdout(), "%X\n", found[0].Entity.PrimaryKey.Fingerprint)
	}
}

// messageKeyIDs returns the key IDs of the PKESK packets of the armored
// OpenPGP message in the file path, a PGP/MIME message.
func messageKeyIDs(path string) ([]uint64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	start := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	if start < 0 {
		return nil, errors.New("no armored OpenPGP message in " + path)
	}
	block, err := armor.Decode(bytes.NewReader(raw[start:]))
	if err != nil {
		return nil, err
	}

	var ids []uint64
	packets := packet.NewReader(block.Body)
	for {
		p, err := packets.Next()
		if err == io.EOF {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			ids = append(ids, p.KeyId)
		case *packet.SymmetricallyEncrypted, *packet.AEADEncrypted:
			// The encrypted data follows the PKESK packets.
			return ids, nil
		}
	}
}

// cmdSMIMECerts makes a throwaway CA and S/MIME certificates for a script:
//
//	smimecerts [-ca-days N] DIR SENDER RECIPIENT...
//
// Each address may end in ":DAYS" to make its certificate expire DAYS from
// now; -ca-days does so for the intermediate CA. It writes DIR/ca.pem (the
// root), the sender's identity as DIR/NAME.p12 locked with "p12-secret",
// and each recipient's certificate and the intermediate as DIR/NAME.pem,
// where NAME is the local part of the address.
func cmdSMIMECerts(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("smimecerts does not fail")
	}
	fs := flag.NewFlagSet("smimecerts", flag.ContinueOnError)
	caDays := fs.Int("ca-days", 0, "make the intermediate CA expire this many days from now")
	if err := fs.Parse(args); err != nil || fs.NArg() < 3 {
		ts.Fatalf("usage: smimecerts [-ca-days N] DIR SENDER RECIPIENT...")
	}
	dir := ts.MkAbs(fs.Arg(0))
	ts.Check(os.MkdirAll(dir, 0o700))

	now := time.Now()
	ca, err := newDemoCA(now)
	ts.Check(err)
	if *caDays > 0 {
		template := caTemplate("sealmail test intermediate CA", now)
		template.MaxPathLenZero = true
		template.NotAfter = now.AddDate(0, 0, *caDays)
		ca.intermediate, err = createCertificate(template, ca.root, ca.intermediateKey.Public(), ca.rootKey)
		ts.Check(err)
	}
	ts.Check(os.WriteFile(filepath.Join(dir, "ca.pem"), pemCertificates(ca.root), 0o644))

	for i, spec := range fs.Args()[1:] {
		address, days := spec, 365
		if before, after, ok := strings.Cut(spec, ":"); ok {
			address = before
			days, err = strconv.Atoi(after)
			ts.Check(err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ts.Check(err)
		cert, err := issueCertificate(ca, address, key, now, now.AddDate(0, 0, days))
		ts.Check(err)

		name := strings.Split(address, "@")[0]
		if i == 0 {
			bundle, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca.intermediate}, "p12-secret")
			ts.Check(err)
			ts.Check(os.WriteFile(filepath.Join(dir, name+".p12"), bundle, 0o600))
			continue
		}
		ts.Check(os.WriteFile(filepath.Join(dir, name+".pem"), pemCertificates(cert, ca.intermediate), 0o644))
	}
}

// issueCertificate makes an S/MIME certificate for address that expires at
// notAfter, as demoCA.issue does for a year.
func issueCertificate(ca *demoCA, address string, key crypto.Signer, now, notAfter time.Time) (*x509.Certificate, error) {
	template := &x509.Certificate{
		SerialNumber:   randomSerial(),
		Subject:        pkix.Name{CommonName: "Test " + address},
		EmailAddresses: []string{address},
		NotBefore:      now.Add(-time.Hour),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	return createCertificate(template, ca.intermediate, key.Public(), ca.intermediateKey)
}

// cmdDateIn sets an environment variable to the UTC date a number of days
// from now, as the expiry warnings print it:
//
//	datein VAR DAYS
func cmdDateIn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: datein VAR DAYS")
	}
	days, err := strconv.Atoi(args[1])
	ts.Check(err)
	ts.Setenv(args[0], time.Now().AddDate(0, 0, days).UTC().Format(time.DateOnly))
}

// cmdAddUID adds a self-signed user ID to an unprotected secret key, as
// anyone who has the secret key can:
//
//	adduid SECRET NAME ADDRESS OUT
//
// It writes the armored secret key with the new user ID to OUT.
func cmdAddUID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: adduid SECRET NAME ADDRESS OUT")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	keys, err := openpgp.ReadArmoredKeyRing(f)
	f.Close()
	ts.Check(err)
	e := keys[0]
	ts.Check(e.AddUserId(args[1], "", args[2], nil))

	var secret bytes.Buffer
	ts.Check(writeArmored(&secret, openpgp.PrivateKeyType, secretSerializer(e)))
	ts.Check(os.WriteFile(ts.MkAbs(args[3]), secret.Bytes(), 0o600))
}

// confirmSetup makes a home with the sender's secret key and an
// unconfirmed key for bob@example.org, and returns the home and Bob's
// fingerprint.
func confirmSetup(t *testing.T) (home, fpr string) {
	t.Helper()
	home = t.TempDir()
	bob := importNewKey(t, home, "Bob", "bob@example.org")
	return home, fmt.Sprintf("%X", bob.PrimaryKey.Fingerprint)
}

// importNewKey generates a key for name and address, imports its public
// key into the keyring of home with "keyring import", and returns it.
func importNewKey(t *testing.T, home, name, address string) *openpgp.Entity {
	t.Helper()
	e, err := keyring.Generate(name, address, keyring.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var public bytes.Buffer
	if err := writeArmored(&public, openpgp.PublicKeyType, e.Serialize); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(file, public.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI(t, home, "", "keyring", "import", file); status != 0 {
		t.Fatalf("keyring import: exit status %d: %s", status, stderr)
	}
	return e
}

// withTerminal makes keyring confirm treat standard input as a terminal
// for the rest of the test.
func withTerminal(t *testing.T) {
	saved := stdinIsTerminal
	stdinIsTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { stdinIsTerminal = saved })
}

func TestConfirmPromptAccepts(t *testing.T) {
	home, fpr := confirmSetup(t)
	withTerminal(t)

	status, stdout, stderr := runCLI(t, home, "y\n", "keyring", "confirm", fpr)
	if status != 0 {
		t.Fatalf("keyring confirm: exit status %d: %s", status, stderr)
	}
	if !strings.Contains(stderr, groupedFingerprint(fpr)) {
		t.Errorf("the prompt does not show the fingerprint in groups of 4:\n%s", stderr)
	}
	if !strings.Contains(stderr, "Bob <bob@example.org>") {
		t.Errorf("the prompt does not show the user ID:\n%s", stderr)
	}
	if !strings.Contains(stderr, "origin       file") {
		t.Errorf("the prompt does not show the origin:\n%s", stderr)
	}
	if !strings.Contains(stderr, "Confirm? [y/N]") {
		t.Errorf("the prompt does not ask:\n%s", stderr)
	}
	if !strings.Contains(stdout, "confirmed key "+fpr) {
		t.Errorf("stdout does not report the confirmation:\n%s", stdout)
	}
	if got := confirmedAt(t, home, fpr); got == nil {
		t.Errorf("the key is not confirmed after the answer y")
	}
}

func TestConfirmPromptDeclines(t *testing.T) {
	for _, answer := range []string{"\n", "n\n", "yess\n", ""} {
		t.Run(strconv.Quote(answer), func(t *testing.T) {
			home, fpr := confirmSetup(t)
			withTerminal(t)

			status, _, stderr := runCLI(t, home, answer, "keyring", "confirm", fpr)
			if status != 1 {
				t.Errorf("exit status = %d, want 1; stderr:\n%s", status, stderr)
			}
			if got := confirmedAt(t, home, fpr); got != nil {
				t.Errorf("the key was confirmed after the answer %q", answer)
			}
		})
	}
}

func TestRequireConfirmedExitStatus(t *testing.T) {
	home, fpr := confirmSetup(t)

	status, stdout, stderr := runCLI(t, home, "Hi Bob.\n", "send", "--require-confirmed", "--encrypt", "--no-encrypt-to-self",
		"--from", "alice@example.org", "--to", "bob@example.org", "--text", "-")
	if status != 1 {
		t.Errorf("exit status = %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "bob@example.org: key 0x"+fpr) {
		t.Errorf("stderr does not name the unconfirmed key:\n%s", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if _, err := os.Stat(filepath.Join(home, "outbox")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the outbox exists after the rejected send (%v)", err)
	}
}

func TestGroupedFingerprint(t *testing.T) {
	got := groupedFingerprint("0123456789abcdef0123456789abcdef01234567")
	want := "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"
	if got != want {
		t.Errorf("groupedFingerprint = %q, want %q", got, want)
	}
}

func TestDemoPrintsNoWarnings(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	if status := run([]string{"demo"}, strings.NewReader(""), &stdout, &stderr); status != 0 {
		t.Fatalf("demo: exit status %d: %s", status, stderr.String())
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Errorf("demo printed a warning:\n%s", stderr.String())
	}
}

// confirmedAt returns when the key fpr in home was confirmed, or nil.
func confirmedAt(t *testing.T, home, fpr string) *time.Time {
	t.Helper()
	return provenanceOf(t, home, fpr).Confirmed
}

// provenanceOf returns the provenance of the key fpr in the keyring of home.
func provenanceOf(t *testing.T, home, fpr string) keyring.Provenance {
	t.Helper()
	kr, err := keyring.Open(filepath.Join(home, "keyring"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := kr.Provenance(context.Background(), fpr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// importingReply imports a key when the prompt is first read, as an
// Autocrypt import by another process might while the user reads it, and
// then answers "y".
type importingReply struct {
	t       *testing.T
	keyring string
	key     []byte
	reply   io.Reader
}

func (r *importingReply) Read(p []byte) (int, error) {
	if r.reply == nil {
		kr, err := keyring.Open(r.keyring)
		if err == nil {
			_, err = kr.ImportWithOptions(context.Background(), bytes.NewReader(r.key),
				keyring.ImportOptions{Origin: keyring.OriginAutocrypt, Source: "bob@work.example", Address: "bob@work.example"})
		}
		if err != nil {
			r.t.Errorf("import during the prompt: %v", err)
		}
		r.reply = strings.NewReader("y\n")
	}
	return r.reply.Read(p)
}

// A user ID that an import adds while the prompt is shown is not confirmed
// by the answer, which covers only the addresses the prompt showed.
func TestConfirmPromptCoversOnlyShownAddresses(t *testing.T) {
	home := t.TempDir()
	bob := importNewKey(t, home, "Bob", "bob@example.org")
	if err := bob.AddUserId("Bob", "", "bob@work.example", nil); err != nil {
		t.Fatal(err)
	}
	var grown bytes.Buffer
	if err := bob.Serialize(&grown); err != nil {
		t.Fatal(err)
	}
	fpr := fmt.Sprintf("%X", bob.PrimaryKey.Fingerprint)
	withTerminal(t)

	var stdout, stderr bytes.Buffer
	stdin := &importingReply{t: t, keyring: filepath.Join(home, "keyring"), key: grown.Bytes()}
	if status := run([]string{"--home", home, "keyring", "confirm", fpr}, stdin, &stdout, &stderr); status != 0 {
		t.Fatalf("keyring confirm: exit status %d: %s", status, stderr.String())
	}
	if strings.Contains(stderr.String(), "bob@work.example") {
		t.Fatalf("the prompt shows bob@work.example, which was imported only after it was shown:\n%s", stderr.String())
	}
	p := provenanceOf(t, home, fpr)
	if !p.ConfirmedFor("bob@example.org") {
		t.Error("bob@example.org, which the prompt showed, is not confirmed")
	}
	if p.ConfirmedFor("bob@work.example") {
		t.Error("bob@work.example, added while the prompt was shown, is confirmed")
	}
	if a := p.Address("bob@work.example"); a.Origin != keyring.OriginAutocrypt {
		t.Errorf("bob@work.example has the provenance %+v, want it from the Autocrypt import", a)
	}
}

// A secret key file that the lookup does not show, such as one that cannot
// be read, still stops keyring remove without --secret, and the message
// names both reasons it may be there.
func TestRemoveStopsAtHiddenSecretKeyFile(t *testing.T) {
	home, fpr := confirmSetup(t)
	secretDir := filepath.Join(home, "keyring", "secret")
	if err := os.MkdirAll(filepath.Join(secretDir, strings.ToLower(fpr)), 0o700); err != nil {
		t.Fatal(err)
	}
	status, _, stderr := runCLI(t, home, "", "keyring", "remove", "--yes", fpr)
	if status != 1 {
		t.Fatalf("exit status = %d, want 1; stderr:\n%s", status, stderr)
	}
	for _, want := range []string{"another program stored after the check", "cannot be read", "nothing was removed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
}
