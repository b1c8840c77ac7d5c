package pgpmime

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/rawmime"
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
	// SignatureErr is the reason the signature did not verify; nil when it did or
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

	entity, err := rawmime.ParseEntity(data)
	if err != nil {
		return nil, err
	}
	switch entity.MediaType {
	case "multipart/signed":
		return openSigned(entity, keys, config)
	case "multipart/encrypted":
		return openEncrypted(entity, keys, config)
	}
	return nil, fmt.Errorf("%w: Content-Type is %q", ErrNotPGPMIME, entity.MediaType)
}

// openSigned verifies a multipart/signed entity.
func openSigned(entity *rawmime.Entity, keys openpgp.KeyRing, config *packet.Config) (*Opened, error) {
	protocol := entity.Params["protocol"]
	if !strings.EqualFold(protocol, "application/pgp-signature") {
		return nil, fmt.Errorf("%w: multipart/signed with protocol %q", ErrNotPGPMIME, protocol)
	}
	parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
	if err != nil {
		return nil, err
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("pgpmime: multipart/signed has %d parts, want 2", len(parts))
	}

	signaturePart, err := rawmime.ParseEntity(parts[1])
	if err != nil {
		return nil, fmt.Errorf("failed to read the signature part: %w", err)
	}
	if signaturePart.MediaType != "application/pgp-signature" {
		return nil, fmt.Errorf("pgpmime: signature part has Content-Type %q, want application/pgp-signature", signaturePart.MediaType)
	}
	signature, err := signaturePart.DecodedBody()
	if err != nil {
		return nil, fmt.Errorf("failed to decode the signature part: %w", err)
	}

	opened := &Opened{Entity: parts[0], Signed: true}
	verifyDetached(opened, parts[0], signature, keys, config)
	if opened.SignatureErr == nil {
		micalg := strings.ToLower(entity.Params["micalg"])
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
func openEncrypted(entity *rawmime.Entity, keys openpgp.KeyRing, config *packet.Config) (*Opened, error) {
	protocol := entity.Params["protocol"]
	if !strings.EqualFold(protocol, "application/pgp-encrypted") {
		return nil, fmt.Errorf("%w: multipart/encrypted with protocol %q", ErrNotPGPMIME, protocol)
	}
	parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
	if err != nil {
		return nil, err
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("pgpmime: multipart/encrypted has %d parts, want 2", len(parts))
	}

	control, err := rawmime.ParseEntity(parts[0])
	if err != nil {
		return nil, fmt.Errorf("failed to read the control part: %w", err)
	}
	if control.MediaType != "application/pgp-encrypted" {
		return nil, fmt.Errorf("pgpmime: first part has Content-Type %q, want application/pgp-encrypted", control.MediaType)
	}
	payload, err := rawmime.ParseEntity(parts[1])
	if err != nil {
		return nil, fmt.Errorf("failed to read the encrypted part: %w", err)
	}
	ciphertext, err := payload.DecodedBody()
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
	entity, err := rawmime.ParseEntity(opened.Entity)
	if err != nil || entity.MediaType != "multipart/signed" {
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
