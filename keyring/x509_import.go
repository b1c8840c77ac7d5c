package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/smallstep/pkcs7"
	"software.sslmate.com/src/go-pkcs12"
)

// ImportOptions tune ImportWithOptions. The zero value imports OpenPGP keys
// and X.509 certificates, and rejects PKCS#12 bundles with an error that
// wraps ErrPasswordNeeded.
type ImportOptions struct {
	// Password returns the password of a PKCS#12 bundle. It is called once,
	// and only when the input is a PKCS#12 bundle.
	Password func() ([]byte, error)

	// Origin records how the input arrived, for OpenPGP keys; the zero
	// value records OriginFile.
	Origin Origin
	// Source names where the input came from, as Provenance.Source.
	Source string
	// Address, when set, keeps only the user IDs of each OpenPGP key that
	// are for this address, as a key from a Web Key Directory or an
	// Autocrypt header must be stored. The input must then be OpenPGP
	// keys: a message or X.509 data is rejected. A key without one is rejected with
	// an error that wraps ErrNoMatchingUserID, and nothing is stored.
	Address string
	// PublicOnly rejects input that contains a secret key or a PKCS#12
	// bundle with an error that wraps ErrSecretKey, for sources that must
	// carry certificates only.
	PublicOnly bool
	// SkipOtherKeys, with Address set, drops the OpenPGP keys without a
	// user ID for the address instead of failing. The Warning of the first
	// Imported names them. It suits sources that may carry other keys
	// beside the one for the address, such as a key file attached to a
	// message or a Web Key Directory. When no key is left, the error wraps
	// ErrNoMatchingUserID.
	SkipOtherKeys bool

	// precheck, when set, runs with the lock held before anything is
	// stored, and its error stops the import: GenerateSecretKey checks
	// there that no other process stored a key for the address meanwhile.
	precheck func(context.Context) error
}

// ErrNoMatchingUserID is wrapped by the error of ImportWithOptions when
// ImportOptions.Address is set and a key has no user ID for it.
var ErrNoMatchingUserID = errors.New("the key has no user ID for the address")

// ErrSecretKey is wrapped by the error of ImportWithOptions when
// ImportOptions.PublicOnly is set and the input contains a secret key.
var ErrSecretKey = errors.New("the input contains a secret key where a certificate was expected")

// ErrPasswordNeeded is wrapped by the error of Import when its input is a
// PKCS#12 bundle and no ImportOptions.Password was given.
var ErrPasswordNeeded = errors.New("a password is needed to import a PKCS#12 bundle")

// ImportWithOptions reads OpenPGP keys, X.509 certificates or a PKCS#12
// bundle from r and stores them. OpenPGP input is imported as Import
// describes. X.509 input is one of:
//
//   - PEM: any number of "CERTIFICATE", "TRUSTED CERTIFICATE", "PKCS7" or
//     "CMS" blocks, with text around them;
//   - one DER certificate;
//   - a certs-only PKCS#7 SignedData (".p7c", RFC 8551 section 3.8), DER
//     or BER;
//   - a PKCS#12 bundle (RFC 7292) with one private key and its
//     certificate, from OpenSSL 3 with its defaults or with -legacy.
//
// Certificates go to the X.509 store. A PKCS#12 bundle is stored as given,
// still encrypted with its password, as the user's S/MIME identity, and
// its certificates go to the X.509 store. The password is checked before
// anything is stored: a wrong one returns an error that wraps
// ErrWrongPassphrase. Certificates become trust anchors only through
// AddTrustAnchor, even a self-signed one.
//
// From an RFC 5322 message, such as a ".eml" file, the OpenPGP keys it
// carries are imported. These are the key in its Autocrypt header field
// (Autocrypt Level 1) and the keys in its application/pgp-keys parts outside
// encrypted parts, as package keyring/mailkeys finds them. Each is stored
// with OriginAutocrypt or OriginAttached, the From address as Source, only
// the user IDs for its address and no secret key, whatever opts sets. Such a
// key never displaces a confirmed key: see EncryptionKey and
// Imported.Warning. The X.509 certificates of its certs-only
// application/pkcs7-mime parts outside encrypted parts are imported as from a
// ".p7c" file. A message without keys or certificates returns an error that
// wraps ErrNoKey.
//
// The whole input is read and parsed before anything is stored.
func (k *Keyring) ImportWithOptions(ctx context.Context, r io.Reader, opts ImportOptions) ([]Imported, error) {
	data, err := readInput(r)
	if err != nil {
		return nil, err
	}

	// Input for one address, from a Web Key Directory or an Autocrypt
	// header, must be OpenPGP keys. A message or X.509 data there would
	// store keys and certificates under another origin and address than
	// the caller named.
	if opts.Address != "" {
		imported, err := k.importOpenPGP(ctx, data, opts)
		for i := range imported {
			imported[i].Kind = KindOpenPGP
		}
		return imported, err
	}
	// A message is recognised first, because its body may contain PEM or
	// armor that the other branches would take for the whole input.
	if isMessage(data) {
		return k.importMessage(ctx, data)
	}
	if !isX509Input(data) {
		imported, err := k.importOpenPGP(ctx, data, opts)
		for i := range imported {
			imported[i].Kind = KindOpenPGP
		}
		return imported, err
	}

	password := opts.Password
	if opts.PublicOnly {
		password = func() ([]byte, error) {
			return nil, fmt.Errorf("failed to import a PKCS#12 bundle: %w", ErrSecretKey)
		}
	}
	in, err := parseX509Input(data, password)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return k.storeX509Input(ctx, in, false)
}

// AddTrustAnchor reads certificates, PEM (one or many) or DER, and stores
// them as trust anchors: the roots that RecipientCertificate, SMIMEIdentity
// and Anchors accept chains to. An anchor is trusted for S/MIME as it is,
// so add only the certificates of CAs, or of people, whose identities were
// checked outside the keyring.
func (k *Keyring) AddTrustAnchor(ctx context.Context, r io.Reader) ([]Imported, error) {
	data, err := readInput(r)
	if err != nil {
		return nil, err
	}

	in, err := parseX509Input(data, nil)
	if errors.Is(err, ErrPasswordNeeded) {
		return nil, errors.New("failed to add trust anchor: the input is a PKCS#12 bundle; give the CA certificate in PEM or DER form")
	}
	if err != nil {
		return nil, fmt.Errorf("failed to add trust anchor: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return k.storeX509Input(ctx, in, true)
}

// readInput reads all of r, up to maxInputSize.
func readInput(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInputSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read keys: %w", err)
	}
	if len(data) > maxInputSize {
		return nil, fmt.Errorf("failed to read keys: the input is larger than %d MiB", maxInputSize>>20)
	}
	return data, nil
}

// x509Input is the content of one X.509 input.
type x509Input struct {
	certs []*x509.Certificate
	// bundle is the PKCS#12 input as given, and identity its certificate,
	// or nil.
	bundle   []byte
	identity *x509.Certificate
}

// isX509Input reports whether data is DER, or PEM with at least one block of
// an X.509, PKCS#7 or PKCS#12 type, rather than OpenPGP.
func isX509Input(data []byte) bool {
	if isDER(data) {
		return true
	}
	for _, blockType := range pemBlockTypes(data) {
		if isX509BlockType(blockType) {
			return true
		}
	}
	return false
}

// pemBlockTypes returns the type of every "-----BEGIN TYPE-----" line in
// data, in order.
func pemBlockTypes(data []byte) []string {
	const begin, dashes = "-----BEGIN ", "-----"
	var types []string
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest = cutLine(rest)
		line = bytes.TrimSpace(line)
		if len(line) > len(begin)+len(dashes) && bytes.HasPrefix(line, []byte(begin)) && bytes.HasSuffix(line, []byte(dashes)) {
			types = append(types, string(line[len(begin):len(line)-len(dashes)]))
		}
	}
	return types
}

// parseX509Input parses X.509 input, PEM or DER, as ImportWithOptions
// describes. password is called for PKCS#12 input only, and may be nil.
func parseX509Input(data []byte, password func() ([]byte, error)) (in x509Input, err error) {
	// Input is untrusted, and a panic in a parser must not take the
	// caller's program down with it.
	defer func() {
		if r := recover(); r != nil {
			in = x509Input{}
			err = fmt.Errorf("failed to read certificates: the parser failed on this input: %v", r)
		}
	}()

	if isDER(data) {
		// The white space that isDER allows after the structure is cut off
		// by its declared length, because trimming white space bytes would
		// also cut a signature that happens to end in one.
		data = trimDER(data)
		if err := parseDER(data, password, &in); err != nil {
			return x509Input{}, err
		}
	} else if err := parsePEM(data, password, &in); err != nil {
		return x509Input{}, err
	}

	if len(in.certs) == 0 {
		return x509Input{}, errors.New("failed to read certificates: the input contains none")
	}
	return in, nil
}

// parseDER parses one DER or BER structure, told apart by the tag of its
// first element: a certificate starts with the SEQUENCE of its
// TBSCertificate, a PKCS#12 PFX with the INTEGER of its version and a
// PKCS#7 ContentInfo with an OBJECT IDENTIFIER.
func parseDER(data []byte, password func() ([]byte, error), in *x509Input) error {
	switch data[2+derLengthSize(data[1])] {
	case 0x02:
		return parsePKCS12(data, password, in)
	case 0x06:
		return parsePKCS7(data, in)
	default:
		cert, err := x509.ParseCertificate(data)
		if err != nil {
			return fmt.Errorf("failed to read DER certificate: %w", err)
		}
		in.certs = append(in.certs, cert)
		return nil
	}
}

// trimDER returns data up to the end of its outer DER element, whose length
// isDER checked. BER with an indefinite length is returned whole.
func trimDER(data []byte) []byte {
	size := derLengthSize(data[1])
	if data[1] < 0x80 {
		return data[:2+int(data[1])]
	}
	if data[1] == 0x80 {
		return data
	}
	length := 0
	for _, b := range data[2 : 2+size] {
		length = length<<8 | int(b)
	}
	return data[:2+size+length]
}

// derLengthSize returns the number of bytes that follow the first length
// byte b of a DER element: none for short and indefinite lengths.
func derLengthSize(b byte) int {
	if b <= 0x80 {
		return 0
	}
	return int(b & 0x7f)
}

// parsePEM parses every PEM block of data. Blocks of other types than
// certificates, PKCS#7 and PKCS#12 are rejected, so that nothing in the
// input is dropped without a word.
func parsePEM(data []byte, password func() ([]byte, error), in *x509Input) error {
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if err := parsePEMBlock(block, password, in); err != nil {
			return fmt.Errorf("failed to read PEM block %d (%q): %w", n, block.Type, err)
		}
	}

	// pem.Decode skips a block it cannot decode as if it were text.
	if begins := len(pemBlockTypes(data)); begins > 0 && len(in.certs) == 0 && in.bundle == nil {
		return fmt.Errorf("failed to read certificates: none of the %d PEM blocks could be decoded; the input is truncated or corrupt", begins)
	}
	return nil
}

// parsePEMBlock parses one PEM block into in.
func parsePEMBlock(block *pem.Block, password func() ([]byte, error), in *x509Input) error {
	switch block.Type {
	case "CERTIFICATE", "X509 CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return err
		}
		in.certs = append(in.certs, cert)
		return nil
	case "TRUSTED CERTIFICATE":
		// OpenSSL appends its own trust settings to the certificate; the
		// keyring keeps its trust anchors apart instead.
		var first asn1.RawValue
		if _, err := asn1.Unmarshal(block.Bytes, &first); err != nil {
			return err
		}
		cert, err := x509.ParseCertificate(first.FullBytes)
		if err != nil {
			return err
		}
		in.certs = append(in.certs, cert)
		return nil
	case "PKCS7", "CMS":
		return parsePKCS7(block.Bytes, in)
	case "PKCS12":
		return parsePKCS12(block.Bytes, password, in)
	case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return errors.New("a private key alone cannot be imported; combine it with its certificate into a PKCS#12 bundle with \"openssl pkcs12 -export -in CERT -inkey KEY -out FILE.p12\"")
	case "X509 CRL", "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		return fmt.Errorf("%w: certificate revocation lists and requests are not imported", ErrX509Unsupported)
	default:
		return errors.New("the block is not a certificate; OpenPGP and X.509 input cannot be mixed, so import them one at a time")
	}
}

// parsePKCS7 adds the certificates of a certs-only SignedData to in.
func parsePKCS7(data []byte, in *x509Input) error {
	p7, err := pkcs7.Parse(data)
	if err != nil {
		return fmt.Errorf("failed to read PKCS#7 certificates: %w", err)
	}
	if len(p7.Signers) > 0 || len(p7.Content) > 0 {
		return errors.New("failed to read PKCS#7 certificates: the input is a signed message, not a certs-only bundle; export the certificates with \"openssl pkcs7 -print_certs\"")
	}
	if len(p7.Certificates) == 0 {
		return errors.New("failed to read PKCS#7 certificates: the bundle contains none")
	}
	in.certs = append(in.certs, p7.Certificates...)
	return nil
}

// parsePKCS12 decrypts a PKCS#12 bundle with the password from password to
// check it, and adds its certificates and the bundle to in.
func parsePKCS12(data []byte, password func() ([]byte, error), in *x509Input) error {
	if in.bundle != nil {
		return errors.New("the input contains more than one PKCS#12 bundle; import them one at a time")
	}
	if password == nil {
		return fmt.Errorf("failed to import PKCS#12 bundle: %w", ErrPasswordNeeded)
	}
	secret, err := password()
	if err != nil {
		return fmt.Errorf("failed to read the password of the PKCS#12 bundle: %w", err)
	}

	_, cert, chain, err := decodePKCS12(data, secret)
	if err != nil {
		return err
	}
	in.bundle = data
	in.identity = cert
	in.certs = append(in.certs, cert)
	in.certs = append(in.certs, chain...)
	return nil
}

// decodePKCS12 decrypts a PKCS#12 bundle and returns its private key, the
// certificate of that key and the other certificates. A wrong password
// returns an error that wraps ErrWrongPassphrase.
func decodePKCS12(data, password []byte) (key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("failed to read PKCS#12 bundle: the parser failed on this input: %v", r)
		}
	}()

	private, first, others, err := pkcs12.DecodeChain(data, string(password))
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, nil, nil, fmt.Errorf("failed to decrypt PKCS#12 bundle: %w", ErrWrongPassphrase)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("failed to read PKCS#12 bundle: %w", err)
	}
	signer, ok := private.(crypto.Signer)
	if !ok {
		return nil, nil, nil, fmt.Errorf("failed to read PKCS#12 bundle: its private key of type %T cannot sign", private)
	}
	if first == nil {
		return nil, nil, nil, errors.New("failed to read PKCS#12 bundle: it contains no certificate")
	}

	// The certificate of the key usually comes first, but PKCS#12 does not
	// require it.
	all := append([]*x509.Certificate{first}, others...)
	for i, candidate := range all {
		if publicKeyMatches(signer.Public(), candidate.PublicKey) {
			chain = append(append([]*x509.Certificate(nil), all[:i]...), all[i+1:]...)
			return signer, candidate, chain, nil
		}
	}
	return nil, nil, nil, errors.New("failed to read PKCS#12 bundle: none of its certificates matches its private key")
}

// publicKeyMatches reports whether the public keys a and b are equal.
func publicKeyMatches(a, b crypto.PublicKey) bool {
	comparable, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && comparable.Equal(b)
}

// storeX509Input stores the certificates of in, as trust anchors when
// anchor is set, and its PKCS#12 bundle, with the lock held.
func (k *Keyring) storeX509Input(ctx context.Context, in x509Input, anchor bool) ([]Imported, error) {
	unlock, err := k.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var imported []Imported
	for _, cert := range in.certs {
		updated, err := k.writeX509(cert, anchor)
		if err != nil {
			return imported, err
		}
		fpr := certFingerprint(cert)
		imported = addImported(imported, Imported{
			Fingerprint: fpr,
			UserIDs:     certUserIDs(cert),
			Secret:      !anchor && k.hasIdentity(fpr),
			Updated:     updated,
			// A certificate is named by the hash of its bytes, so a stored
			// one is always the same.
			Unchanged: updated,
			Kind:      KindX509,
		})
	}
	if in.bundle == nil {
		return imported, nil
	}

	// The bundle is written after its certificate, so an identity is never
	// stored without the certificate that List and SMIMEIdentity read.
	fpr := certFingerprint(in.identity)
	path := k.identityPath(fpr)
	stored, err := os.ReadFile(path)
	sameBundle := err == nil && bytes.Equal(stored, in.bundle)
	if !sameBundle {
		if err := writeFileAtomic(path, in.bundle); err != nil {
			return imported, err
		}
	}
	for i := range imported {
		if imported[i].Fingerprint == fpr {
			imported[i].Secret = true
			imported[i].Unchanged = imported[i].Unchanged && sameBundle
		}
	}
	return imported, nil
}
