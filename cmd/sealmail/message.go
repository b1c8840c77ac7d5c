package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/crypto/cms"
	"github.com/sealmail/sealmail/crypto/smime"
)

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// onceFlag is a flag that takes one value and may be given only once, so
// that a repeated or explicitly empty value is an error instead of a silent
// choice.
type onceFlag struct {
	value string
	set   bool
}

func (o *onceFlag) String() string { return o.value }

func (o *onceFlag) Set(v string) error {
	if o.set {
		return errors.New("given more than once")
	}
	if strings.TrimSpace(v) == "" {
		return errors.New("empty value; leave the flag out instead")
	}
	o.value, o.set = v, true
	return nil
}

// messageFlags are the flags of compose and send that describe the message
// and its protection.
type messageFlags struct {
	from, replyTo   onceFlag
	to, cc, bcc     listFlag
	subject         onceFlag
	textFile        onceFlag
	htmlFile        onceFlag
	attach          listFlag
	header          listFlag
	pgp, smime      bool
	sign, encrypt   bool
	passphraseFile  onceFlag
	noEncryptToSelf bool
	// requireConfirmed rejects unconfirmed OpenPGP recipient keys.
	requireConfirmed bool

	smimeCipher       onceFlag
	smimeKeyTransport onceFlag
	smimeOpaque       bool
	smimeLegacyTypes  bool
	systemRoots       bool
	requireRevocation bool

	privacy privacyFlags
	// settings names the flags that took their value from config.toml.
	settings configSettings
}

func (f *messageFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.from, "from", "the sender's `address`, such as 'Alice <alice@example.org>' (required)")
	fs.Var(&f.to, "to", "recipients, as an RFC 5322 address `list` (repeatable)")
	fs.Var(&f.cc, "cc", "carbon-copy recipients, as an address `list` (repeatable)")
	fs.Var(&f.bcc, "bcc", "blind-copy recipients, as an address `list` (repeatable); each gets a copy of its own when encrypting")
	fs.Var(&f.replyTo, "reply-to", "the reply `address` list")
	fs.Var(&f.subject, "subject", "the subject `text`")
	fs.Var(&f.textFile, "text", "the text body from `FILE`, or - for standard input")
	fs.Var(&f.htmlFile, "html", "the HTML body from `FILE`, or - for standard input")
	fs.Var(&f.attach, "attach", "attach `FILE` (repeatable)")
	fs.Var(&f.header, "header", "an extra header field, as `'Name: value'` (repeatable); it travels in the clear, but an encrypted message keeps Keywords, Comments and Thread-Topic inside only, unless --no-header-protection")
	fs.BoolVar(&f.pgp, "pgp", false, "protect with OpenPGP as PGP/MIME (the default)")
	fs.BoolVar(&f.smime, "smime", false, "protect with S/MIME")
	fs.BoolVar(&f.sign, "sign", false, "sign; with neither --sign nor --encrypt, both")
	fs.BoolVar(&f.encrypt, "encrypt", false, "encrypt; with neither --sign nor --encrypt, both")
	fs.Var(&f.passphraseFile, "passphrase-file", "read the passphrase of the sender's key from `FILE` (or set SEALMAIL_PASSPHRASE)")
	fs.BoolVar(&f.noEncryptToSelf, "no-encrypt-to-self", false, "do not encrypt to the sender's own key (the sent copy becomes unreadable)")
	fs.BoolVar(&f.requireConfirmed, "require-confirmed", false, "write and send nothing when an OpenPGP key to encrypt to was never confirmed with \"sealmail keyring confirm\"; S/MIME certificates pass when they validate against a trust anchor")
	fs.Var(&f.smimeCipher, "smime-cipher", "the S/MIME content `cipher`: aes256-cbc (default), aes128-cbc, aes128-gcm or aes256-gcm")
	fs.Var(&f.smimeKeyTransport, "smime-key-transport", "the S/MIME key transport to RSA recipients: `pkcs1v15` (default) or oaep")
	fs.BoolVar(&f.smimeOpaque, "smime-opaque", false, "sign with S/MIME in the opaque signed-data form instead of multipart/signed")
	fs.BoolVar(&f.smimeLegacyTypes, "smime-legacy-types", false, "write the application/x-pkcs7-* media types, for old receivers")
	fs.BoolVar(&f.requireRevocation, "require-revocation-check", false, "refuse an S/MIME certificate whose CRL cannot be fetched (by default sealmail warns and goes on)")
	fs.BoolVar(&f.systemRoots, "system-roots", false, "trust the system's TLS roots as S/MIME anchors too (by default only anchors added with keyring trust)")
	f.privacy.register(fs)
}

// scheme returns the protection scheme the flags ask for, and checks that
// the S/MIME flags come with --smime.
func (f *messageFlags) scheme() (compose.Scheme, error) {
	if f.pgp && f.smime {
		return 0, usagef("--pgp and --smime cannot be used together")
	}
	if !f.smime && (f.smimeCipher.set || f.smimeKeyTransport.set || f.smimeOpaque || f.smimeLegacyTypes || f.systemRoots || f.requireRevocation) {
		return 0, usagef("the --smime-*, --system-roots and --require-revocation-check flags need --smime")
	}
	if err := f.privacy.check(f.smime, f.settings); err != nil {
		return 0, err
	}
	if f.smime {
		return compose.SMIME, nil
	}
	return compose.PGP, nil
}

// smimeOptions returns the S/MIME options the flags ask for.
func (f *messageFlags) smimeOptions() (smime.Options, error) {
	var opts smime.Options
	switch f.smimeCipher.value {
	case "", "aes256-cbc":
		opts.Cipher = cms.AES256CBC
	case "aes128-cbc":
		opts.Cipher = cms.AES128CBC
	case "aes128-gcm":
		opts.Cipher = cms.AES128GCM
	case "aes256-gcm":
		opts.Cipher = cms.AES256GCM
	default:
		return opts, usagef("unknown --smime-cipher %q: use aes256-cbc, aes128-cbc, aes128-gcm or aes256-gcm", f.smimeCipher.value)
	}
	switch f.smimeKeyTransport.value {
	case "", "pkcs1v15":
		opts.KeyTransport = cms.RSAPKCS1v15
	case "oaep":
		opts.KeyTransport = cms.RSAOAEPSHA256
	default:
		return opts, usagef("unknown --smime-key-transport %q: use pkcs1v15 or oaep", f.smimeKeyTransport.value)
	}
	opts.Opaque = f.smimeOpaque
	opts.LegacyTypes = f.smimeLegacyTypes
	return opts, nil
}

// mode returns the protection the flags ask for.
func (f *messageFlags) mode() (compose.Mode, error) {
	if _, err := f.scheme(); err != nil {
		return 0, err
	}
	if _, err := f.smimeOptions(); err != nil {
		return 0, err
	}
	if f.smimeOpaque && f.encrypt && !f.sign {
		return 0, usagef("--smime-opaque chooses the form of a signature, and --encrypt alone does not sign; drop one of them")
	}
	if f.privacy.attaches() && f.encrypt && !f.sign && f.noEncryptToSelf {
		return 0, f.privacy.noSenderKeyError(f.settings)
	}
	switch {
	case f.sign && !f.encrypt:
		return compose.SignOnly, nil
	case f.encrypt && !f.sign:
		return compose.EncryptOnly, nil
	default:
		return compose.SignAndEncrypt, nil
	}
}

// message builds the message the flags describe, reading the body files.
func (f *messageFlags) message(stdin io.Reader) (*compose.Message, error) {
	if f.from.value == "" {
		return nil, usagef("missing --from: give the sender's address, or set from in the home's config.toml")
	}
	if len(f.to)+len(f.cc)+len(f.bcc) == 0 {
		return nil, usagef("missing recipients: give --to, --cc or --bcc")
	}
	if f.textFile.value == "" && f.htmlFile.value == "" && len(f.attach) == 0 {
		return nil, usagef("missing body: give --text FILE, --html FILE or --attach FILE")
	}

	m := &compose.Message{Subject: f.subject.value, Date: time.Now()}
	from, err := parseAddresses("--from", []string{f.from.value})
	if err != nil {
		return nil, err
	}
	if len(from) != 1 {
		return nil, usagef("--from %q must be exactly one address", f.from.value)
	}
	m.From = from[0]
	if m.To, err = parseAddresses("--to", f.to); err != nil {
		return nil, err
	}
	if m.Cc, err = parseAddresses("--cc", f.cc); err != nil {
		return nil, err
	}
	if m.Bcc, err = parseAddresses("--bcc", f.bcc); err != nil {
		return nil, err
	}
	if f.replyTo.value != "" {
		if m.ReplyTo, err = parseAddresses("--reply-to", []string{f.replyTo.value}); err != nil {
			return nil, err
		}
	}

	for _, h := range f.header {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, usagef("--header %q is not of the form 'Name: value'", h)
		}
		m.Header = append(m.Header, compose.Field{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}

	if f.textFile.value != "" {
		if m.Text, err = readBody(f.textFile.value, stdin); err != nil {
			return nil, err
		}
	}
	if f.htmlFile.value != "" {
		if f.htmlFile.value == "-" && f.textFile.value == "-" {
			return nil, usagef("--text and --html cannot both read standard input")
		}
		if m.HTML, err = readBody(f.htmlFile.value, stdin); err != nil {
			return nil, err
		}
	}
	for _, path := range f.attach {
		if path == "-" {
			return nil, usagef("--attach cannot read standard input: save the data to a file and attach that")
		}
		a, err := compose.AttachFile(path)
		if err != nil {
			return nil, err
		}
		m.Attachments = append(m.Attachments, a)
	}
	return m, nil
}

// parseAddresses parses each value of an address flag as an RFC 5322
// address list.
func parseAddresses(flagName string, values []string) ([]*mail.Address, error) {
	var all []*mail.Address
	for _, v := range values {
		list, err := compose.ParseAddressList(v)
		if err != nil {
			return nil, usagef("invalid %s %q: %v", flagName, v, err)
		}
		all = append(all, list...)
	}
	return all, nil
}

func readBody(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("failed to read the body from standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the body: %w", err)
	}
	return b, nil
}
