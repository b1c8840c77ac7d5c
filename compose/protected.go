package compose

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/crypto/pgpmime"
	"github.com/sealmail/sealmail/crypto/smime"
)

// obscuredSubject is the outer Subject of an encrypted message with header
// protection, as the hcp_baseline policy of RFC 9788 sets it.
const obscuredSubject = "[...]"

// maxAutocryptField is the largest Autocrypt or Autocrypt-Gossip field, name
// and folding included, that Autocrypt Level 1 lets receivers
// accept. A larger one is left out rather than sent to be ignored.
const maxAutocryptField = 10 << 10

// AutocryptOptions tune the Autocrypt fields of OpenPGP messages (Autocrypt
// Level 1). The zero value writes them.
type AutocryptOptions struct {
	// Off leaves out the Autocrypt header field and the Autocrypt-Gossip
	// fields.
	Off bool
	// PreferEncrypt adds prefer-encrypt=mutual to the Autocrypt field, which
	// requests that Autocrypt clients encrypt replies by default.
	PreferEncrypt bool
}

// senderKeys contains the Autocrypt field and the attached key part that New
// derives once from the sender's key or certificate, so that WriteCopy only
// copies them into each copy.
type senderKeys struct {
	autocrypt string // folded Autocrypt field with CRLF, or ""
	// keyPart is the MIME part with the sender's key to attach, or nil. It is
	// an application/pgp-keys part or a certs-only application/pkcs7-mime
	// part.
	keyPart []byte
}

// prepareSenderKeys derives the Autocrypt field and the attached key or
// certificates from the sender's key: the signer when signing, or else the
// sender's key of encryption to self. Without either, AttachKey is an error
// and the Autocrypt field is left out.
func prepareSenderKeys(m *Message, opts *Options, self []recipientKey, now time.Time) (senderKeys, error) {
	var out senderKeys
	if opts.Scheme == SMIME {
		if !opts.AttachKey {
			return out, nil
		}
		var certs []*x509.Certificate
		switch {
		case opts.Mode.signs():
			// The chain goes without the root, as a signature carries it,
			// because the receiver must trust the root already.
			certs = []*x509.Certificate{opts.SMIMESigner.Certificate}
			for _, cert := range opts.SMIMESigner.Chain {
				if !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
					certs = append(certs, cert)
				}
			}
		case len(self) > 0:
			certs = []*x509.Certificate{self[0].cert}
		default:
			return out, fmt.Errorf("failed to compose: no sender certificate to attach: sign, or encrypt to self with the sender's certificate in the keyring")
		}
		var b bytes.Buffer
		smimeOpts := opts.SMIME
		if err := smime.WriteCertsOnly(&b, certs, &smimeOpts); err != nil {
			return out, fmt.Errorf("failed to compose: cannot attach the sender's certificates: %w", err)
		}
		out.keyPart = b.Bytes()
		return out, nil
	}

	var key *openpgp.Entity
	switch {
	case opts.Mode.signs():
		key = opts.Signer
	case len(self) > 0:
		key = self[0].pgp
	}
	if key == nil {
		if opts.AttachKey {
			return out, fmt.Errorf("failed to compose: no sender key to attach: sign, or encrypt to self with the sender's key in the keyring")
		}
		return out, nil
	}

	// Only a user ID for the From address goes out, because another one,
	// such as the primary user ID, could name an identity the sender keeps
	// apart.
	identity := pgpmime.AddressIdentity(key, m.From.Address, now)
	if identity == nil {
		if opts.AttachKey {
			return out, fmt.Errorf("failed to compose: cannot attach the sender's key %X, because it has no valid user ID for %q and attaching it would show its other user IDs; add a user ID for the address to the key, or attach none", key.PrimaryKey.Fingerprint, m.From.Address)
		}
		return out, nil
	}
	minimal, err := pgpmime.MinimalKey(key, identity, now)
	if err != nil {
		if opts.AttachKey {
			return out, fmt.Errorf("failed to compose: cannot attach the sender's key %X, because it is not usable for encryption at this time (%v); attach a key with a valid encryption subkey, such as one from \"sealmail keyring generate\", or attach none", key.PrimaryKey.Fingerprint, err)
		}
		// Autocrypt needs a key that others can encrypt to, so a key that
		// only signs gets no header field.
		return out, nil
	}
	if !opts.Autocrypt.Off {
		attributes := "addr=" + m.From.Address + ";"
		if opts.Autocrypt.PreferEncrypt {
			attributes += " prefer-encrypt=mutual;"
		}
		out.autocrypt, err = autocryptField("Autocrypt", attributes, minimal)
		switch {
		case errors.Is(err, errFieldTooLarge):
			out.autocrypt = ""
		case err != nil:
			return out, fmt.Errorf("failed to compose: %w", err)
		}
	}
	if opts.AttachKey {
		if out.keyPart, err = keyPart(minimal); err != nil {
			return out, fmt.Errorf("failed to compose: %w", err)
		}
	}
	return out, nil
}

// errFieldTooLarge is the error of autocryptField for a field that would
// exceed maxAutocryptField, which New leaves out.
var errFieldTooLarge = errors.New("the field would exceed 10 KiB")

// autocryptField returns the header field name with the attributes and then
// the key as keydata, which Autocrypt Level 1 requires to be the last
// attribute. The field is folded with CRLF. A field longer than
// maxAutocryptField returns errFieldTooLarge.
func autocryptField(name, attributes string, key *openpgp.Entity) (string, error) {
	var packets bytes.Buffer
	if err := key.Serialize(&packets); err != nil {
		return "", fmt.Errorf("failed to encode the key %X for the %s field: %w", key.PrimaryKey.Fingerprint, name, err)
	}
	encoded := base64.StdEncoding.EncodeToString(packets.Bytes())

	var b strings.Builder
	b.WriteString(name + ": " + attributes + " keydata=\r\n")
	// A continuation line of a space and 76 base64 characters stays within
	// the 78 characters that RFC 5322 recommends. Receivers drop the white
	// space from keydata.
	for len(encoded) > 0 {
		n := min(76, len(encoded))
		b.WriteString(" " + encoded[:n] + "\r\n")
		encoded = encoded[n:]
	}
	if b.Len() > maxAutocryptField {
		return "", errFieldTooLarge
	}
	return b.String(), nil
}

// gossipFields returns the Autocrypt-Gossip fields of a copy: one for each
// recipient key, in the order given. It leaves out a key without a valid
// user ID for its address, because its other user IDs would go to every
// recipient. It also leaves out a key without a valid encryption key and a
// key too large for a field.
func gossipFields(gossip []gossipKey, now time.Time) (string, error) {
	var b strings.Builder
	for _, g := range gossip {
		identity := pgpmime.AddressIdentity(g.key, g.address, now)
		if identity == nil {
			continue
		}
		minimal, err := pgpmime.MinimalKey(g.key, identity, now)
		if err != nil {
			continue
		}
		field, err := autocryptField("Autocrypt-Gossip", "addr="+g.address+";", minimal)
		switch {
		case errors.Is(err, errFieldTooLarge):
			continue
		case err != nil:
			return "", fmt.Errorf("failed to compose: %w", err)
		}
		b.WriteString(field)
	}
	return b.String(), nil
}

// keyPart returns the application/pgp-keys part (RFC 3156 section 7) with
// the armored key, named as Thunderbird names the keys it attaches. Armor is
// 7-bit with short lines, so the part needs no transfer encoding.
func keyPart(key *openpgp.Entity) ([]byte, error) {
	var armored bytes.Buffer
	aw, err := armor.EncodeWithChecksumOption(&armored, "PGP PUBLIC KEY BLOCK", nil, false)
	if err != nil {
		return nil, fmt.Errorf("failed to armor the sender's key: %w", err)
	}
	if err := key.Serialize(aw); err != nil {
		return nil, fmt.Errorf("failed to encode the sender's key: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("failed to armor the sender's key: %w", err)
	}

	name := "OpenPGP_0x" + key.PrimaryKey.KeyIdString() + ".asc"
	var b bytes.Buffer
	fmt.Fprintf(&b, "Content-Type: application/pgp-keys;\r\n\tname=\"%s\"\r\n", name)
	fmt.Fprintf(&b, "Content-Disposition: attachment;\r\n\tfilename=\"%s\"\r\n", name)
	b.WriteString("Content-Description: OpenPGP public key\r\n")
	b.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")
	text := strings.TrimRight(strings.ReplaceAll(armored.String(), "\r\n", "\n"), "\n")
	b.WriteString(strings.ReplaceAll(text, "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// protects reports whether copies carry a copy of the header inside the
// protected entity (RFC 9788).
func (c *Composer) protects() bool { return !c.opts.NoHeaderProtection }

// obscures reports whether the outer Subject is the "[...]" placeholder,
// which is the case for an encrypted message with header protection.
func (c *Composer) obscures() bool { return c.protects() && c.opts.Mode.encrypts() }

// writePayload writes the entity to protect. Without header protection,
// gossip or an attached key, that is the body alone. Otherwise it is a
// multipart/mixed of the body and the key part, if any. With header
// protection, the header of that multipart carries the header fields (RFC
// 9788): hp="cipher" with the HP-Outer fields when encrypting, hp="clear"
// when only signing, and protected-headers="v1" for readers of the earlier
// convention that Thunderbird and notmuch follow. An encrypted To/Cc copy
// also carries its Autocrypt-Gossip fields there.
func (c *Composer) writePayload(w io.Writer, cp *plannedCopy, fields, outer []Field, body func(io.Writer) error) error {
	part := c.sender.keyPart
	if !c.protects() && part == nil && cp.gossip == "" {
		return body(w)
	}

	boundary := newBoundary()
	contentType := "multipart/mixed;\r\n\tboundary=\"" + boundary + "\""
	if c.protects() {
		hp := "clear"
		if c.opts.Mode.encrypts() {
			hp = "cipher"
		}
		contentType += ";\r\n\thp=\"" + hp + "\"; protected-headers=\"v1\""
	}
	if _, err := io.WriteString(w, "Content-Type: "+contentType+"\r\n"); err != nil {
		return err
	}
	if c.protects() {
		if err := writeFields(w, fields); err != nil {
			return err
		}
		if c.opts.Mode.encrypts() {
			for _, f := range outer {
				if f.Name == "Date" || f.Name == "Message-ID" {
					// Amazon SES replaces both, so a receiver could
					// not match them with the outer header it gets.
					continue
				}
				if err := writeField(w, "HP-Outer", f.Name+": "+f.Value); err != nil {
					return err
				}
			}
		}
	}
	if _, err := io.WriteString(w, cp.gossip+"\r\n"); err != nil {
		return err
	}

	if err := writeDelimiter(w, boundary, true); err != nil {
		return err
	}
	if err := body(w); err != nil {
		return err
	}
	if part != nil {
		if err := writeDelimiter(w, boundary, false); err != nil {
			return err
		}
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return writeCloseDelimiter(w, boundary)
}

// writeFields writes header fields in order, each folded by writeField.
func writeFields(w io.Writer, fields []Field) error {
	for _, f := range fields {
		if err := writeField(w, f.Name, f.Value); err != nil {
			return err
		}
	}
	return nil
}

// checkKeysOnce has go-crypto check the signatures that signing and
// encryption read from each key. go-crypto records a check in the key itself
// (packet.VerifiableSignature.Valid) the first time it makes it. After this,
// concurrent WriteCopy calls only read those records.
func checkKeysOnce(copies []plannedCopy, signer *openpgp.Entity, now time.Time) {
	checked := make(map[*openpgp.Entity]bool)
	check := func(key *openpgp.Entity) {
		if key == nil || checked[key] {
			return
		}
		checked[key] = true
		// The results are not needed: the calls only record the checks.
		key.PrimarySelfSignature(now, nil)
		key.EncryptionKey(now, nil)
		key.SigningKey(now, nil)
	}
	check(signer)
	for _, cp := range copies {
		for _, key := range cp.keys {
			check(key)
		}
	}
}
