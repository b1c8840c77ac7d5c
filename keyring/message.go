package keyring

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/sealmail/sealmail/keyring/mailkeys"
)

// isMessage reports whether data is an RFC 5322 message rather than keys or
// certificates. A message starts with header fields, after the "From " line
// of an mbox file if any. The fields end in an empty line, and one of them is
// From or Content-Type. Armor and PEM start with a "-----BEGIN" line, binary
// OpenPGP with a byte whose top bit is set, and DER is ruled out first.
func isMessage(data []byte) bool {
	if isDER(data) {
		return false
	}
	rest := data
	if bytes.HasPrefix(rest, []byte("From ")) {
		_, rest = cutLine(rest)
	}

	seenField, seenKeyField := false, false
	for len(rest) > 0 {
		var line []byte
		line, rest = cutLine(rest)
		line = bytes.TrimRight(line, "\r\n")

		switch {
		case len(line) == 0:
			return seenKeyField
		case line[0] == ' ' || line[0] == '\t':
			// A folded continuation line belongs to the field before it.
			if !seenField {
				return false
			}
		default:
			name, ok := fieldName(line)
			if !ok {
				return false
			}
			seenField = true
			if strings.EqualFold(name, "From") || strings.EqualFold(name, "Content-Type") {
				seenKeyField = true
			}
		}
	}
	return false
}

// fieldName returns the name of the header field line, which is printable
// ASCII other than the colon, up to the colon (RFC 5322 section 2.2).
func fieldName(line []byte) (string, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return "", false
	}
	for _, b := range line[:colon] {
		if b < 33 || b > 126 {
			return "", false
		}
	}
	return string(line[:colon]), true
}

// importMessage imports the keys that the message data carries in its
// Autocrypt header field and its application/pgp-keys parts, and the
// certificates of its S/MIME certs-only parts, as ImportWithOptions
// describes. Every key and certificate is parsed and checked before any is
// stored, so a bad one keeps the others out too.
func (k *Keyring) importMessage(ctx context.Context, data []byte) ([]Imported, error) {
	found, err := mailkeys.Extract(data)
	if err != nil {
		return nil, fmt.Errorf("failed to read keys from the message: %w", err)
	}
	if len(found.Keys) == 0 && len(found.CertsOnly) == 0 {
		return nil, noKeyInMessage(found, data)
	}

	options := make([]ImportOptions, len(found.Keys))
	for i, key := range found.Keys {
		options[i] = messageKeyOptions(key, found.From)
		in, err := parseInput(key.Data)
		if err != nil {
			return nil, fmt.Errorf("failed to read the key in %s: %w", key.Location, err)
		}
		if _, err := checkImportOptions(&in, options[i]); err != nil {
			return nil, fmt.Errorf("failed to import the key in %s: %w", key.Location, err)
		}
	}
	certificates, locations, err := parseCertsOnlyParts(found.CertsOnly)
	if err != nil {
		return nil, err
	}

	var imported []Imported
	for i, key := range found.Keys {
		results, err := k.importOpenPGP(ctx, key.Data, options[i])
		for _, result := range results {
			result.Kind = KindOpenPGP
			imported = addImported(imported, result)
		}
		if err != nil {
			return imported, fmt.Errorf("failed to import the key in %s: %w", key.Location, err)
		}
	}
	if len(certificates.certs) == 0 {
		return imported, nil
	}

	if err := ctx.Err(); err != nil {
		return imported, err
	}
	results, err := k.storeX509Input(ctx, certificates, false)
	for _, result := range results {
		if location := locations[result.Fingerprint]; location != "" {
			result.Location = location
			if found.From != "" {
				result.Location += " of the message from " + found.From
			}
		}
		imported = addImported(imported, result)
	}
	if err != nil {
		return imported, fmt.Errorf("failed to import the certificates of the message: %w", err)
	}
	return imported, nil
}

// parseCertsOnlyParts parses the certificates of the certs-only parts as
// "keyring import FILE.p7c" does. It also returns a map from each
// certificate's fingerprint to the location of the first part that contains
// it. It rejects a PKCS#12 bundle or a private key in a part, because a
// message brings only certificates.
func parseCertsOnlyParts(parts []mailkeys.CertsOnly) (x509Input, map[string]string, error) {
	noBundle := func() ([]byte, error) {
		return nil, fmt.Errorf("failed to import a PKCS#12 bundle: %w", ErrSecretKey)
	}

	var all x509Input
	locations := make(map[string]string) // by certificate fingerprint
	for _, part := range parts {
		in, err := parseX509Input(part.Data, noBundle)
		if err != nil {
			return x509Input{}, nil, fmt.Errorf("failed to read the certificates in %s: %w", part.Location, err)
		}
		for _, cert := range in.certs {
			if fpr := certFingerprint(cert); locations[fpr] == "" {
				locations[fpr] = part.Location
			}
		}
		all.certs = append(all.certs, in.certs...)
	}
	return all, locations, nil
}

// messageKeyOptions returns the options to import key with: only its user
// IDs for its address, no secret key, and the message's sender as the
// source.
func messageKeyOptions(key mailkeys.Key, from string) ImportOptions {
	origin := OriginAttached
	if key.Kind == mailkeys.KindAutocrypt {
		origin = OriginAutocrypt
	}
	return ImportOptions{Origin: origin, Source: from, Address: key.Address, PublicOnly: true,
		SkipOtherKeys: key.Kind != mailkeys.KindAutocrypt}
}

// noKeyInMessage returns the error for the message data without keys or
// certificates, with the reasons its Autocrypt header fields were ignored
// and the parts that could not be read.
func noKeyInMessage(found *mailkeys.Result, data []byte) error {
	reason := "it carries no Autocrypt header or application/pgp-keys part, and no S/MIME certs-only part"
	if len(found.Ignored) > 0 {
		reason = fmt.Sprintf("it carries no valid Autocrypt header (%s), no application/pgp-keys part and no S/MIME certs-only part", strings.Join(found.Ignored, "; "))
	}
	if len(found.Unread) > 0 {
		reason += fmt.Sprintf("; keys and certificates inside %s cannot be read, because that content is encrypted or wrapped in S/MIME, so import them from a decrypted copy of the message",
			strings.Join(found.Unread, ", "))
	}
	// A key pasted into the text of a message is not bound to the message
	// by any standard, so it is not taken, but the user can import it.
	if bytes.Contains(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		reason += "; to import the key in its text, save the armored block to a file and import that file"
	}
	return fmt.Errorf("failed to import keys from the message: %s: %w", reason, ErrNoKey)
}
