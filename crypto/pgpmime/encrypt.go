package pgpmime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// Encrypt writes a multipart/encrypted entity (RFC 3156 section 4) to w: the
// header field Content-Type, an empty line and the body with its two parts.
// The OpenPGP message is encrypted to the newest valid encryption subkey of
// each recipient with AES-256 in SEIPDv1, or SEIPDv2 when every recipient key
// advertises it. When signer is not nil the OpenPGP message is also signed
// (the combined form of RFC 3156 section 6.2). Encrypt fails if the produced
// message does not list exactly one key per recipient.
//
// Recipients that share a primary key are encrypted to once. A recipient a
// message cannot be encrypted to fails the call before anything is written
// to w. The cipher is AES-256 unless a recipient does not list it among its
// preferred ciphers (see the package doc).
func Encrypt(w io.Writer, recipients []*openpgp.Entity, signer *openpgp.Entity, body BodyFunc, opts *Options) error {
	config := opts.config()
	recipients, err := uniqueRecipients(recipients)
	if err != nil {
		return err
	}
	wantKeyIDs, wantSEIPDv2, err := encryptionKeys(recipients, config)
	if err != nil {
		return err
	}

	params := &openpgp.EncryptParams{Config: config}
	if signer != nil {
		params.Signers = []*openpgp.Entity{signer}
	}

	// go-crypto writes the session keys (PKESK packets) to KeyWriter while
	// it sets up the message, so they are checked before any output exists.
	var keyPackets bytes.Buffer
	params.KeyWriter = &keyPackets
	var data holdWriter
	plaintext, err := openpgp.EncryptWithParams(&data, recipients, nil, params)
	if err != nil {
		return fmt.Errorf("failed to start the OpenPGP message: %w", err)
	}
	if err := checkRecipientKeyIDs(keyPackets.Bytes(), wantKeyIDs); err != nil {
		return err
	}

	boundary, err := rawmime.NewBoundary(config.Random(), "pgp.")
	if err != nil {
		return err
	}
	header := "Content-Type: multipart/encrypted; boundary=\"" + boundary + "\";\r\n" +
		" protocol=\"application/pgp-encrypted\"\r\n" +
		"\r\n" +
		"--" + boundary + "\r\n" +
		"Content-Type: application/pgp-encrypted\r\n" +
		"Content-Description: PGP/MIME version identification\r\n" +
		"\r\n" +
		"Version: 1\r\n" +
		"\r\n" +
		"--" + boundary + "\r\n" +
		"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n" +
		"Content-Description: OpenPGP encrypted message\r\n" +
		"Content-Disposition: inline; filename=\"encrypted.asc\"\r\n" +
		"\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("failed to write the multipart/encrypted header: %w", err)
	}

	armored, err := armor.Encode(crlfWriter{w}, "PGP MESSAGE", nil)
	if err != nil {
		return fmt.Errorf("failed to armor the OpenPGP message: %w", err)
	}
	if _, err := armored.Write(keyPackets.Bytes()); err != nil {
		return fmt.Errorf("failed to write the session keys: %w", err)
	}
	encryptedData := &prefixWriter{w: armored, max: 8}
	if err := data.release(encryptedData); err != nil {
		return fmt.Errorf("failed to write the OpenPGP message: %w", err)
	}

	// go-crypto's cipher stream allocates a buffer on every Write, so small
	// writes of single lines are gathered first.
	buffered := bufio.NewWriterSize(plaintext, 64<<10)
	checker := rawmime.NewChecker(buffered, rawmime.CheckOptions{})
	if err := body(checker); err != nil {
		return fmt.Errorf("failed to write the entity to encrypt: %w", err)
	}
	if err := checker.Close(); err != nil {
		return err
	}
	if err := buffered.Flush(); err != nil {
		return fmt.Errorf("failed to encrypt the entity: %w", err)
	}
	if err := plaintext.Close(); err != nil {
		return fmt.Errorf("failed to finish the OpenPGP message: %w", err)
	}
	if err := checkEncryptedData(encryptedData.prefix, wantSEIPDv2); err != nil {
		return err
	}

	if err := armored.Close(); err != nil {
		return fmt.Errorf("failed to armor the OpenPGP message: %w", err)
	}
	if _, err := io.WriteString(w, "\r\n--"+boundary+"--\r\n"); err != nil {
		return fmt.Errorf("failed to write the close delimiter: %w", err)
	}
	return nil
}

// uniqueRecipients drops recipients that repeat a primary key, so each key
// gets one session key packet.
func uniqueRecipients(recipients []*openpgp.Entity) ([]*openpgp.Entity, error) {
	if len(recipients) == 0 {
		return nil, errors.New("pgpmime: missing recipients, a message needs at least one key to encrypt to")
	}

	seen := make(map[string]bool, len(recipients))
	unique := make([]*openpgp.Entity, 0, len(recipients))
	for i, recipient := range recipients {
		if recipient == nil || recipient.PrimaryKey == nil {
			return nil, fmt.Errorf("pgpmime: recipient %d has no key", i)
		}
		fingerprint := string(recipient.PrimaryKey.Fingerprint)
		if seen[fingerprint] {
			continue
		}
		seen[fingerprint] = true
		unique = append(unique, recipient)
	}
	return unique, nil
}

// encryptionKeys returns the key IDs of the subkeys go-crypto will encrypt
// to, one per recipient, and whether every recipient advertises SEIPDv2.
// It fails, naming the key and the cause, for a recipient with no valid
// encryption key: expired, revoked or without one at all.
func encryptionKeys(recipients []*openpgp.Entity, config *packet.Config) (keyIDs []uint64, seipdV2 bool, err error) {
	now := config.Now()
	seipdV2 = true
	for _, recipient := range recipients {
		key, err := recipient.EncryptionKeyWithError(now, config)
		if err != nil {
			return nil, false, fmt.Errorf("failed to find an encryption key in %X: %w", recipient.PrimaryKey.Fingerprint, err)
		}
		keyIDs = append(keyIDs, key.PublicKey.KeyId)

		selfSignature, err := recipient.PrimarySelfSignature(now, config)
		if err != nil {
			return nil, false, fmt.Errorf("failed to read the self-signature of %X: %w", recipient.PrimaryKey.Fingerprint, err)
		}
		if !selfSignature.SEIPDv2 {
			seipdV2 = false
		}
	}
	return keyIDs, seipdV2, nil
}

// checkRecipientKeyIDs parses the PKESK packets go-crypto wrote and checks
// that they name exactly the intended encryption subkeys, once each, so a
// key the library parsed but skipped never yields a message encrypted to
// fewer recipients than asked.
func checkRecipientKeyIDs(keyPackets []byte, want []uint64) error {
	var got []uint64
	packets := packet.NewReader(bytes.NewReader(keyPackets))
	for {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("failed to read the session key packets just written: %w", err)
		}
		encryptedKey, ok := p.(*packet.EncryptedKey)
		if !ok {
			return fmt.Errorf("pgpmime: session key output contains a %T, not a PKESK packet", p)
		}
		got = append(got, encryptedKey.KeyId)
	}

	sortedGot := slices.Sorted(slices.Values(got))
	sortedWant := slices.Sorted(slices.Values(want))
	if !slices.Equal(sortedGot, sortedWant) {
		return fmt.Errorf("pgpmime: message lists session keys for %s, want %s", formatKeyIDs(got), formatKeyIDs(want))
	}
	return nil
}

func formatKeyIDs(ids []uint64) string {
	if len(ids) == 0 {
		return "no key"
	}
	var b bytes.Buffer
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%016X", id)
	}
	return b.String()
}

// packetTagSEIPD is the Symmetrically Encrypted and Integrity Protected Data
// packet of RFC 9580 section 5.13. The LibrePGP OCB packet (tag 20) is never
// written.
const packetTagSEIPD = 18

// checkEncryptedData checks the first bytes of the encrypted data packet:
// SEIPD in version 1, or version 2 when every recipient advertises it.
func checkEncryptedData(prefix []byte, wantSEIPDv2 bool) error {
	tag, body, err := packetHeader(prefix)
	if err != nil {
		return err
	}
	if tag != packetTagSEIPD {
		return fmt.Errorf("pgpmime: encrypted data is packet %d, want %d (SEIPD)", tag, packetTagSEIPD)
	}
	if len(body) == 0 {
		return errors.New("pgpmime: encrypted data packet has no version")
	}

	want := byte(1)
	if wantSEIPDv2 {
		want = 2
	}
	if body[0] != want {
		return fmt.Errorf("pgpmime: encrypted data is SEIPDv%d, want SEIPDv%d", body[0], want)
	}
	return nil
}

// packetHeader parses an OpenPGP packet header in the format of RFC 9580
// section 4.2 and returns the tag and the bytes after the header.
func packetHeader(b []byte) (tag byte, body []byte, err error) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, nil, errors.New("pgpmime: encrypted data does not start with a packet header")
	}
	if b[0]&0x40 == 0 {
		// Legacy format: the tag in bits 5-2, the length type in bits 1-0.
		tag = (b[0] >> 2) & 0x0f
		lengthOctets := []int{1, 2, 4, 0}[b[0]&0x03]
		if len(b) < 1+lengthOctets {
			return 0, nil, errors.New("pgpmime: encrypted data packet header is truncated")
		}
		return tag, b[1+lengthOctets:], nil
	}

	tag = b[0] & 0x3f
	switch first := b[1]; {
	case first < 192, first >= 224 && first < 255:
		return tag, b[2:], nil
	case first < 224:
		if len(b) < 3 {
			return 0, nil, errors.New("pgpmime: encrypted data packet header is truncated")
		}
		return tag, b[3:], nil
	default:
		if len(b) < 6 {
			return 0, nil, errors.New("pgpmime: encrypted data packet header is truncated")
		}
		return tag, b[6:], nil
	}
}
