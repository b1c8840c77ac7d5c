package pgpmime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message/textproto"
)

// Opened is a PGP/MIME message read back by Open.
type Opened struct {
	// Entity is the protected MIME entity: decrypted for an encrypted
	// message, the first part for a signed one.
	Entity []byte
	// Encrypted reports whether the message was multipart/encrypted.
	Encrypted bool
	// RecipientKeyIDs lists the key IDs the message was encrypted to.
	RecipientKeyIDs []uint64
	// Signed reports whether a signature was found.
	Signed bool
	// Signer is the fingerprint (lowercase hex) of the key that made a good
	// signature; empty when no signature verified.
	Signer string
	// SignatureErr says why the signature did not verify; nil when it did or
	// when there was none.
	SignatureErr error
	// Hash is the hash algorithm of the signature, as micalg names it
	// without the "pgp-" prefix ("sha256").
	Hash string
}

// Open reads a complete message (header and body) or MIME entity, decrypts
// it with the secret keys in keys and verifies its signature with the public
// keys in keys.
//
// An encrypted message that decrypts to a multipart/signed entity (the nested
// form of RFC 3156 section 6.1) has that signature verified too, and Entity
// is then the first part of the signed entity. Open returns an error wrapping
// ErrNotPGPMIME for any other entity, and an error when decryption fails;
// a signature that does not verify is reported in SignatureErr instead.
func Open(r io.Reader, keys openpgp.KeyRing, opts *Options) (*Opened, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to read the message: %w", err)
	}
	config := opts.config()

	entity, err := parseEntity(data)
	if err != nil {
		return nil, err
	}
	switch entity.mediaType {
	case "multipart/signed":
		return openSigned(entity, keys, config)
	case "multipart/encrypted":
		return openEncrypted(entity, keys, config)
	}
	return nil, fmt.Errorf("%w: Content-Type is %q", ErrNotPGPMIME, entity.mediaType)
}

// openSigned verifies a multipart/signed entity.
func openSigned(entity *rawEntity, keys openpgp.KeyRing, config *packet.Config) (*Opened, error) {
	protocol := entity.params["protocol"]
	if !strings.EqualFold(protocol, "application/pgp-signature") {
		return nil, fmt.Errorf("%w: multipart/signed with protocol %q", ErrNotPGPMIME, protocol)
	}
	parts, err := splitMultipart(entity.body, entity.params["boundary"])
	if err != nil {
		return nil, err
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("pgpmime: multipart/signed has %d parts, want 2", len(parts))
	}

	signaturePart, err := parseEntity(parts[1])
	if err != nil {
		return nil, fmt.Errorf("failed to read the signature part: %w", err)
	}
	if signaturePart.mediaType != "application/pgp-signature" {
		return nil, fmt.Errorf("pgpmime: signature part has Content-Type %q, want application/pgp-signature", signaturePart.mediaType)
	}
	signature, err := signaturePart.decodedBody()
	if err != nil {
		return nil, fmt.Errorf("failed to decode the signature part: %w", err)
	}

	opened := &Opened{Entity: parts[0], Signed: true}
	verifyDetached(opened, parts[0], signature, keys, config)
	if opened.SignatureErr == nil {
		micalg := strings.ToLower(entity.params["micalg"])
		if micalg != "pgp-"+opened.Hash {
			opened.SignatureErr = fmt.Errorf("pgpmime: micalg %q does not match the signature hash %q", micalg, opened.Hash)
			opened.Signer = ""
		}
	}
	return opened, nil
}

// verifyDetached checks an armored or binary detached signature over signed
// and records the outcome in opened.
func verifyDetached(opened *Opened, signed, signature []byte, keys openpgp.KeyRing, config *packet.Config) {
	packets, err := dearmor(signature, openpgp.SignatureType)
	if err != nil {
		opened.SignatureErr = err
		return
	}
	if keys == nil {
		keys = openpgp.EntityList{}
	}

	details, err := openpgp.VerifyDetachedSignatureReader(keys, bytes.NewReader(signed), packets, config)
	if err != nil {
		opened.SignatureErr = fmt.Errorf("failed to read the signature: %w", err)
		return
	}
	if _, err := io.Copy(io.Discard, details.UnverifiedBody); err != nil {
		opened.SignatureErr = fmt.Errorf("failed to verify the signature: %w", err)
		return
	}
	recordSignature(opened, details)
}

// recordSignature copies the outcome of a verified message into opened.
func recordSignature(opened *Opened, details *openpgp.MessageDetails) {
	if details.SignatureError != nil {
		opened.SignatureErr = details.SignatureError
	}
	if details.Signature != nil {
		opened.Hash = hashName(details.Signature.Hash)
	} else if len(details.SignatureCandidates) > 0 {
		opened.Hash = hashName(details.SignatureCandidates[0].HashAlgorithm)
	}
	if details.SignatureError == nil && details.SignedBy != nil && details.SignedBy.Entity != nil {
		opened.Signer = hex.EncodeToString(details.SignedBy.Entity.PrimaryKey.Fingerprint)
	}
	if details.SignatureError == nil && opened.Signer == "" {
		opened.SignatureErr = errors.New("pgpmime: signature verified without a known signer")
	}
}

// openEncrypted decrypts a multipart/encrypted entity and verifies the
// signature inside, if any.
func openEncrypted(entity *rawEntity, keys openpgp.KeyRing, config *packet.Config) (*Opened, error) {
	protocol := entity.params["protocol"]
	if !strings.EqualFold(protocol, "application/pgp-encrypted") {
		return nil, fmt.Errorf("%w: multipart/encrypted with protocol %q", ErrNotPGPMIME, protocol)
	}
	parts, err := splitMultipart(entity.body, entity.params["boundary"])
	if err != nil {
		return nil, err
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("pgpmime: multipart/encrypted has %d parts, want 2", len(parts))
	}

	control, err := parseEntity(parts[0])
	if err != nil {
		return nil, fmt.Errorf("failed to read the control part: %w", err)
	}
	if control.mediaType != "application/pgp-encrypted" {
		return nil, fmt.Errorf("pgpmime: first part has Content-Type %q, want application/pgp-encrypted", control.mediaType)
	}
	payload, err := parseEntity(parts[1])
	if err != nil {
		return nil, fmt.Errorf("failed to read the encrypted part: %w", err)
	}
	ciphertext, err := payload.decodedBody()
	if err != nil {
		return nil, fmt.Errorf("failed to decode the encrypted part: %w", err)
	}

	opened, err := decrypt(ciphertext, keys, config)
	if err != nil {
		return nil, err
	}
	return verifyNested(opened, keys, config), nil
}

// decrypt decrypts an armored or binary OpenPGP message.
func decrypt(ciphertext []byte, keys openpgp.KeyRing, config *packet.Config) (*Opened, error) {
	if keys == nil {
		return nil, errors.New("pgpmime: no keys to decrypt with")
	}
	packets, err := dearmor(ciphertext, "PGP MESSAGE")
	if err != nil {
		return nil, err
	}

	details, err := openpgp.ReadMessage(packets, keys, nil, config)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt the message: %w", err)
	}
	if !details.IsEncrypted {
		return nil, errors.New("pgpmime: encrypted part contains an OpenPGP message that is not encrypted")
	}
	plaintext, err := io.ReadAll(details.UnverifiedBody)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt the message: %w", err)
	}

	opened := &Opened{
		Entity:          plaintext,
		Encrypted:       true,
		RecipientKeyIDs: details.EncryptedToKeyIds,
		Signed:          details.IsSigned,
	}
	if details.IsSigned {
		recordSignature(opened, details)
	}
	return opened, nil
}

// verifyNested verifies a decrypted multipart/signed entity (RFC 3156
// section 6.1) and merges its outcome into opened: any signature that fails
// makes SignatureErr non-nil.
func verifyNested(opened *Opened, keys openpgp.KeyRing, config *packet.Config) *Opened {
	entity, err := parseEntity(opened.Entity)
	if err != nil || entity.mediaType != "multipart/signed" {
		return opened
	}
	inner, err := openSigned(entity, keys, config)
	if err != nil {
		if !errors.Is(err, ErrNotPGPMIME) {
			opened.Signed = true
			opened.SignatureErr = errors.Join(opened.SignatureErr, err)
			opened.Signer = ""
		}
		return opened
	}

	opened.Entity = inner.Entity
	if opened.Signed && opened.SignatureErr == nil && inner.SignatureErr == nil && opened.Signer != inner.Signer {
		inner.SignatureErr = fmt.Errorf("pgpmime: inner signature by %s differs from outer signature by %s", inner.Signer, opened.Signer)
	}
	if opened.SignatureErr != nil || inner.SignatureErr != nil {
		opened.SignatureErr = errors.Join(opened.SignatureErr, inner.SignatureErr)
		opened.Signer = ""
	} else {
		opened.Signer = inner.Signer
	}
	opened.Signed = true
	if opened.Hash == "" {
		opened.Hash = inner.Hash
	}
	return opened
}

// dearmor returns a reader of the OpenPGP packets in data, which may be
// armored with the block type blockType or binary.
func dearmor(data []byte, blockType string) (io.Reader, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return bytes.NewReader(data), nil
	}
	block, err := armor.Decode(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("failed to read the armored %s: %w", blockType, err)
	}
	if block.Type != blockType {
		return nil, fmt.Errorf("pgpmime: armored block is %q, want %q", block.Type, blockType)
	}
	return block.Body, nil
}

// rawEntity is a MIME entity split into its header and the raw bytes of its
// body, which stay as they were received.
type rawEntity struct {
	header    textproto.Header
	mediaType string
	params    map[string]string
	body      []byte
}

// parseEntity reads the header of a message or entity. A missing
// Content-Type means text/plain (RFC 2045 section 5.2).
func parseEntity(data []byte) (*rawEntity, error) {
	source := bytes.NewReader(data)
	reader := bufio.NewReader(source)
	header, err := textproto.ReadHeader(reader)
	if err != nil {
		return nil, fmt.Errorf("failed to read the header: %w", err)
	}
	consumed := len(data) - source.Len() - reader.Buffered()

	entity := &rawEntity{header: header, mediaType: "text/plain", body: data[consumed:]}
	if value := header.Get("Content-Type"); value != "" {
		mediaType, params, err := mime.ParseMediaType(value)
		if err != nil {
			return nil, fmt.Errorf("failed to parse Content-Type %q: %w", value, err)
		}
		entity.mediaType = mediaType
		entity.params = params
	}
	return entity, nil
}

// decodedBody returns the body with its Content-Transfer-Encoding undone.
func (e *rawEntity) decodedBody() ([]byte, error) {
	encoding := strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding")))
	switch encoding {
	case "", "7bit", "8bit", "binary":
		return e.body, nil
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, newlineStripper{bytes.NewReader(e.body)}))
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(e.body)))
	}
	return nil, fmt.Errorf("pgpmime: unknown Content-Transfer-Encoding %q", encoding)
}

// newlineStripper drops CR and LF, which base64.NewDecoder skips only when
// they are not part of other white space.
type newlineStripper struct {
	r io.Reader
}

func (s newlineStripper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	kept := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			p[kept] = b
			kept++
		}
	}
	return kept, err
}

// splitMultipart returns the raw bytes of each body part of a multipart
// body (RFC 2046 section 5.1.1), without re-serializing anything: a part
// ends before the line break that precedes the next delimiter, because that
// line break belongs to the delimiter. Line breaks may be CRLF or LF.
func splitMultipart(body []byte, boundary string) ([][]byte, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("pgpmime: invalid multipart boundary %q", boundary)
	}
	delimiter := []byte("--" + boundary)

	var parts [][]byte
	partStart := -1
	for lineStart := 0; lineStart < len(body); {
		lineEnd := len(body)
		next := len(body)
		if i := bytes.IndexByte(body[lineStart:], '\n'); i >= 0 {
			lineEnd = lineStart + i
			next = lineEnd + 1
		}
		line := bytes.TrimSuffix(body[lineStart:lineEnd], []byte("\r"))

		closing, isDelimiter := delimiterLine(line, delimiter)
		if isDelimiter {
			if partStart >= 0 {
				parts = append(parts, body[partStart:max(partStart, lineBreakStart(body, lineStart))])
			}
			if closing {
				return parts, nil
			}
			partStart = next
		}
		lineStart = next
	}
	return nil, fmt.Errorf("pgpmime: multipart body has no close delimiter for boundary %q", boundary)
}

// delimiterLine reports whether line is a delimiter line ("--boundary"
// followed by optional white space) or a close delimiter line
// ("--boundary--").
func delimiterLine(line, delimiter []byte) (closing, ok bool) {
	rest, found := bytes.CutPrefix(line, delimiter)
	if !found {
		return false, false
	}
	if after, found := bytes.CutPrefix(rest, []byte("--")); found {
		return true, len(bytes.Trim(after, " \t")) == 0
	}
	return false, len(bytes.Trim(rest, " \t")) == 0
}

// lineBreakStart returns where the line break before lineStart begins.
func lineBreakStart(body []byte, lineStart int) int {
	if lineStart == 0 {
		return 0
	}
	end := lineStart - 1
	if end > 0 && body[end-1] == '\r' {
		end--
	}
	return end
}
