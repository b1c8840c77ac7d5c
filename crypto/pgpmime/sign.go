package pgpmime

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// Sign writes a multipart/signed entity (RFC 3156 section 5) to w: the header
// field Content-Type with protocol and micalg, an empty line and the body. The
// micalg parameter names the hash of the signature actually produced. The
// bytes body writes are signed and written to w unchanged.
func Sign(w io.Writer, signer *openpgp.Entity, body BodyFunc, opts *Options) error {
	if signer == nil {
		return errors.New("pgpmime: no signer")
	}
	config := opts.config()
	params := &openpgp.SignParams{TextSig: true, Config: config}

	// go-crypto picks the hash from the key for some key types (P-521 and
	// Ed448 force SHA-512), so a trial signature shows which hash micalg must
	// announce before the body streams through.
	hash, err := trialSignatureHash(signer, params)
	if err != nil {
		return err
	}
	micalg, err := micalgFor(hash)
	if err != nil {
		return err
	}
	boundary, err := rawmime.NewBoundary(config.Random(), "pgp.")
	if err != nil {
		return err
	}

	var signature bytes.Buffer
	signatureWriter, err := openpgp.DetachSignWriter(&signature, []*openpgp.Entity{signer}, params)
	if err != nil {
		return fmt.Errorf("failed to start the signature: %w", err)
	}

	header := "Content-Type: multipart/signed; boundary=\"" + boundary + "\";\r\n" +
		" micalg=" + micalg + "; protocol=\"application/pgp-signature\"\r\n" +
		"\r\n" +
		"--" + boundary + "\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("failed to write the multipart/signed header: %w", err)
	}

	checker := rawmime.NewChecker(io.MultiWriter(w, signatureWriter), rawmime.CheckOptions{Signed: true, NoMIMEVersion: true})
	if err := body(checker); err != nil {
		return fmt.Errorf("failed to write the entity to sign: %w", err)
	}
	if err := checker.Close(); err != nil {
		return err
	}
	if err := signatureWriter.Close(); err != nil {
		return fmt.Errorf("failed to sign the entity: %w", err)
	}

	if err := checkSignatureHash(signature.Bytes(), hash); err != nil {
		return err
	}
	return writeSignaturePart(w, boundary, signature.Bytes())
}

// trialSignatureHash signs an empty message with the same key and settings
// and returns the hash of that signature.
func trialSignatureHash(signer *openpgp.Entity, params *openpgp.SignParams) (crypto.Hash, error) {
	var trial bytes.Buffer
	if err := openpgp.DetachSignWithParams(&trial, []*openpgp.Entity{signer}, bytes.NewReader(nil), params); err != nil {
		return 0, fmt.Errorf("failed to sign with key %X: %w", signer.PrimaryKey.Fingerprint, err)
	}
	signature, err := readSignature(trial.Bytes())
	if err != nil {
		return 0, err
	}
	return signature.Hash, nil
}

// checkSignatureHash checks that the detached signature was made with the
// hash micalg announced.
func checkSignatureHash(detached []byte, announced crypto.Hash) error {
	signature, err := readSignature(detached)
	if err != nil {
		return err
	}
	if signature.Hash != announced {
		return fmt.Errorf("pgpmime: signature hash %s differs from micalg %s", signature.Hash, announced)
	}
	return nil
}

// readSignature parses the single signature packet of a detached signature.
func readSignature(detached []byte) (*packet.Signature, error) {
	p, err := packet.Read(bytes.NewReader(detached))
	if err != nil {
		return nil, fmt.Errorf("failed to read the signature just made: %w", err)
	}
	signature, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("pgpmime: signature output contains a %T, not a signature", p)
	}
	return signature, nil
}

// writeSignaturePart closes the signed part and writes the second part of
// multipart/signed, the armored signature, and the close delimiter.
func writeSignaturePart(w io.Writer, boundary string, signature []byte) error {
	header := "\r\n--" + boundary + "\r\n" +
		"Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n" +
		"Content-Description: OpenPGP digital signature\r\n" +
		"Content-Disposition: attachment; filename=\"signature.asc\"\r\n" +
		"\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("failed to write the signature part: %w", err)
	}

	if err := writeArmored(w, openpgp.SignatureType, signature); err != nil {
		return err
	}

	if _, err := io.WriteString(w, "--"+boundary+"--\r\n"); err != nil {
		return fmt.Errorf("failed to write the close delimiter: %w", err)
	}
	return nil
}

// writeArmored writes data as an armored block with CRLF line endings,
// ending in CRLF.
func writeArmored(w io.Writer, blockType string, data []byte) error {
	crlf := crlfWriter{w}
	encoder, err := armor.Encode(crlf, blockType, nil)
	if err != nil {
		return fmt.Errorf("failed to armor the %s: %w", blockType, err)
	}
	if _, err := encoder.Write(data); err != nil {
		return fmt.Errorf("failed to armor the %s: %w", blockType, err)
	}
	if err := encoder.Close(); err != nil {
		return fmt.Errorf("failed to armor the %s: %w", blockType, err)
	}
	if _, err := io.WriteString(w, "\r\n"); err != nil {
		return fmt.Errorf("failed to armor the %s: %w", blockType, err)
	}
	return nil
}
