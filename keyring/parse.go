package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// ErrNoKey is returned by Import when its input holds no OpenPGP key.
var ErrNoKey = errors.New("no OpenPGP key found in input")

// maxInputSize is the largest input Import reads: 64 MiB, far above any
// real keyring export, so that a wrong file fails before it fills memory.
const maxInputSize = 64 << 20

// keyInput is the content of one Import input: keys and bare revocations.
type keyInput struct {
	entities []*openpgp.Entity
	// revocations are key revocation signatures that came without their
	// key, as in a revocation certificate.
	revocations []*packet.Signature
}

// parseInput reads every key in data, armored or binary. It fails on the
// first block or key it cannot read completely, so that bad input changes
// nothing in the store.
func parseInput(data []byte) (in keyInput, err error) {
	// Input is untrusted, and a panic in the OpenPGP library must not take
	// the caller's program down with it.
	defer func() {
		if r := recover(); r != nil {
			in = keyInput{}
			err = fmt.Errorf("failed to read keys: the OpenPGP library failed on this input: %v", r)
		}
	}()

	blocks, err := splitInput(data)
	if err != nil {
		return keyInput{}, err
	}

	for i, block := range blocks {
		if err := parseBlock(block, &in); err != nil {
			if len(blocks) > 1 {
				return keyInput{}, fmt.Errorf("failed to read block %d of the input: %w", i+1, err)
			}
			return keyInput{}, err
		}
	}
	if len(in.entities) == 0 && len(in.revocations) == 0 {
		return keyInput{}, ErrNoKey
	}
	return in, nil
}

// splitInput returns the binary content of data: the decoded body of every
// armored block, or data itself when it is binary. openpgp.ReadArmoredKeyRing
// reads only the first armored block, so the blocks are split here.
func splitInput(data []byte) ([][]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: the input is empty", ErrNoKey)
	}
	if isDER(data) {
		return nil, ErrX509Unsupported
	}

	// Every OpenPGP packet starts with a tag byte whose top bit is set (RFC
	// 9580 section 4.2), and armor is ASCII.
	if trimmed[0]&0x80 != 0 {
		return [][]byte{data}, nil
	}
	return splitArmor(data)
}

// splitArmor decodes every armored block in data (RFC 9580 section 6.2).
// Text around the blocks is ignored, as in a key pasted into an email.
func splitArmor(data []byte) ([][]byte, error) {
	const begin, end, dashes = "-----BEGIN ", "-----END ", "-----"

	var blocks [][]byte
	rest := data
	for len(rest) > 0 {
		line, next := cutLine(rest)
		trimmed := bytes.TrimSpace(line)
		if !bytes.HasPrefix(trimmed, []byte(begin)) || !bytes.HasSuffix(trimmed, []byte(dashes)) ||
			len(trimmed) < len(begin)+len(dashes) {
			rest = next
			continue
		}

		blockType := string(trimmed[len(begin) : len(trimmed)-len(dashes)])
		if isX509BlockType(blockType) {
			return nil, ErrX509Unsupported
		}
		if !strings.HasPrefix(blockType, "PGP ") {
			return nil, fmt.Errorf("armored block %q is not an OpenPGP key block; export the key with \"gpg --armor --export\"", blockType)
		}
		endLine := []byte(end + blockType + dashes)
		start := len(data) - len(rest)
		blockEnd := -1
		for scan := next; len(scan) > 0; {
			line, after := cutLine(scan)
			if bytes.Equal(bytes.TrimSpace(line), endLine) {
				blockEnd = len(data) - len(after)
				rest = after
				break
			}
			scan = after
		}
		if blockEnd < 0 {
			return nil, fmt.Errorf("armored block %q is truncated: its END line is missing", blockType)
		}

		body, err := decodeArmor(data[start:blockEnd])
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, body)
	}

	if len(blocks) == 0 {
		if bytes.Contains(data, []byte("\n:-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
			// GnuPG writes a colon before the BEGIN line of the revocation
			// certificates in openpgp-revocs.d, so that they are not
			// imported by accident.
			return nil, fmt.Errorf("%w: this looks like a revocation certificate of GnuPG; to revoke the key, delete the colon before \"-----BEGIN\" and import the file again", ErrNoKey)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoKey, notKeyData)
	}
	return blocks, nil
}

// cutLine splits data after its first line feed.
func cutLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i+1], data[i+1:]
	}
	return data, nil
}

// decodeArmor returns the binary body of one armored key block.
func decodeArmor(block []byte) ([]byte, error) {
	decoded, err := armor.Decode(bytes.NewReader(block))
	if err != nil {
		return nil, fmt.Errorf("failed to decode armored block: %w", err)
	}
	if decoded.Type != openpgp.PublicKeyType && decoded.Type != openpgp.PrivateKeyType {
		return nil, fmt.Errorf("armored block %q is not an OpenPGP key block", decoded.Type)
	}

	body, err := io.ReadAll(decoded.Body)
	if err != nil {
		return nil, fmt.Errorf("failed to decode armored block %q, which is truncated or corrupt: %w", decoded.Type, err)
	}
	return body, nil
}

// parseBlock reads the keys in one binary block and adds them to in.
func parseBlock(data []byte, in *keyInput) error {
	keyStart, keyCount, revocations, err := scanPackets(data)
	if err != nil {
		return err
	}
	in.revocations = append(in.revocations, revocations...)
	if keyCount == 0 {
		return nil
	}

	packets := packet.NewReader(bytes.NewReader(data[keyStart:]))
	var entities []*openpgp.Entity
	for {
		e, err := openpgp.ReadEntity(packets)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("failed to read key %d of the block: %w", len(entities)+1, err)
		}
		entities = append(entities, e)
	}

	// ReadEntity skips what it cannot read; a key it skipped is an error
	// here, never a silent loss.
	if len(entities) != keyCount {
		return fmt.Errorf("failed to read keys: the block contains %d keys, but only %d could be read", keyCount, len(entities))
	}
	for _, e := range entities {
		if err := checkEntity(e); err != nil {
			return err
		}
	}
	in.entities = append(in.entities, entities...)
	return nil
}

// scanPackets reads every packet of data once, before ReadEntity does, to
// report what ReadEntity would skip without an error: truncated packets and
// keys or subkeys of unsupported algorithms or versions. It returns the
// offset of the first primary key, the number of primary keys, and the key
// revocation signatures that come before the first key.
func scanPackets(data []byte) (keyStart, keyCount int, revocations []*packet.Signature, err error) {
	if !startsOpenPGP(data) {
		return 0, 0, nil, fmt.Errorf("%w: %s", ErrNoKey, notKeyData)
	}
	if err := checkFraming(data); err != nil {
		return 0, 0, nil, fmt.Errorf("failed to read keys: %w; export the keys again", err)
	}

	keyStart = -1
	r := bytes.NewReader(data)
	for {
		offset := len(data) - r.Len()
		p, err := packet.Read(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			var unknown pgperrors.UnknownPacketTypeError
			var unsupported pgperrors.UnsupportedError
			switch {
			case errors.As(err, &unknown):
				continue
			case errors.As(err, &unsupported) && isKeyPacket(p):
				return 0, 0, nil, fmt.Errorf("failed to read key: %s has an unsupported algorithm or version: %w", keyPacketName(p), err)
			case errors.As(err, &unsupported) && isSignature(p):
				// An unsupported signature is skipped, like ReadEntity does.
				continue
			case errors.As(err, &unsupported) && p != nil:
				// Another packet of an unsupported version, such as that of
				// a message, is reported by the type switch below.
			case errors.Is(err, io.ErrUnexpectedEOF):
				return 0, 0, nil, fmt.Errorf("failed to read key: the input is truncated: %w", err)
			default:
				return 0, 0, nil, fmt.Errorf("failed to read key: the input is malformed: %w", err)
			}
		}

		switch p := p.(type) {
		case *packet.PublicKey:
			if !p.IsSubkey {
				keyCount++
			}
		case *packet.PrivateKey:
			if !p.IsSubkey {
				keyCount++
			}
		case *packet.Signature:
			if keyCount == 0 {
				if p.SigType != packet.SigTypeKeyRevocation {
					return 0, 0, nil, fmt.Errorf("failed to read key: a signature of type %#x comes before any key", uint8(p.SigType))
				}
				revocations = append(revocations, p)
			}
		case *packet.UserId, *packet.UserAttribute, *packet.Marker, packet.Padding:
		default:
			// Encrypted, compressed or literal data: this is a message, and
			// the rest of it cannot be read packet by packet.
			if keyCount == 0 {
				return 0, 0, nil, fmt.Errorf("%w: the input is an OpenPGP message or signature", ErrNoKey)
			}
			return 0, 0, nil, fmt.Errorf("failed to read key: a packet of type %T is not part of a key", p)
		}
		if keyCount == 1 && keyStart < 0 {
			keyStart = offset
		}
	}
	return keyStart, keyCount, revocations, nil
}

// isSignature reports whether p is a signature packet.
func isSignature(p packet.Packet) bool {
	_, ok := p.(*packet.Signature)
	return ok
}

// isKeyPacket reports whether p is a public or secret key or subkey packet.
func isKeyPacket(p packet.Packet) bool {
	switch p.(type) {
	case *packet.PublicKey, *packet.PrivateKey:
		return true
	}
	return false
}

// keyPacketName names the kind of key packet p is, for error messages.
func keyPacketName(p packet.Packet) string {
	switch p := p.(type) {
	case *packet.PublicKey:
		if p.IsSubkey {
			return "a subkey"
		}
	case *packet.PrivateKey:
		if p.IsSubkey {
			return "a secret subkey"
		}
		return "the secret primary key"
	}
	return "the primary key"
}

// checkEntity rejects a key that no one could use: without a valid
// self-signature, its user IDs and subkeys are unbound claims.
func checkEntity(e *openpgp.Entity) error {
	if _, err := e.PrimarySelfSignature(time.Time{}, nil); err != nil {
		return fmt.Errorf("key %s has no valid self-signature: %w", displayFingerprint(e), err)
	}
	return nil
}

// parseStored reads the one key stored in data under fingerprint fpr. Its
// errors describe what is wrong with data, and the caller names the file.
func parseStored(data []byte, fpr string) (e *openpgp.Entity, err error) {
	defer func() {
		if r := recover(); r != nil {
			e = nil
			err = fmt.Errorf("the OpenPGP library failed on it: %v", r)
		}
	}()

	e, err = openpgp.ReadEntity(packet.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("it is not an OpenPGP key: %w", err)
	}
	if got := hexFingerprint(e.PrimaryKey.Fingerprint); got != fpr {
		return nil, fmt.Errorf("it contains key %s, which does not match its file name", got)
	}
	return e, nil
}

// notKeyData is the error text for input of none of the kinds Import reads.
const notKeyData = "the input is not an OpenPGP key (armored or binary), an X.509 certificate, a PKCS#12 bundle or a mail message"

// startsOpenPGP reports whether data can start binary OpenPGP data. That is
// a packet header (RFC 9580 section 4.2) with the tag of a packet type that
// RFC 9580 defines. For a key or signature packet, the version must also be
// one that RFC 9580 or RFC 4880 defines. Without this check, other data such
// as a picture would be reported as a truncated packet, because a PNG file
// starts with what reads as the header of a signature packet.
func startsOpenPGP(data []byte) bool {
	if len(data) == 0 || data[0]&0x80 == 0 {
		return false
	}
	var tag byte
	var body int // the offset of the packet body, or -1 when unknown
	if data[0]&0x40 != 0 {
		tag = data[0] & 0x3f
		switch {
		case len(data) < 2:
			body = -1
		case data[1] < 192:
			body = 2
		case data[1] < 224:
			body = 3
		case data[1] == 255:
			body = 6
		default:
			body = 2 // a partial body length of one octet
		}
	} else {
		tag = (data[0] >> 2) & 0x0f
		body = [4]int{2, 3, 5, 1}[data[0]&0x03]
	}
	if !(tag >= 1 && tag <= 14 || tag >= 17 && tag <= 21) {
		return false
	}
	switch tag {
	case 2, 5, 6, 7, 14: // signature, secret and public keys and subkeys
		if body < 0 || body >= len(data) {
			return true // too short to tell; the parser reports it
		}
		version := data[body]
		return version >= 2 && version <= 6
	}
	return true
}
