package smime

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sealmail/sealmail/crypto/cms"
	"github.com/sealmail/sealmail/internal/rawmime"
)

// ErrNotSMIME is wrapped by the error Open returns for a message that is
// neither S/MIME signed nor S/MIME encrypted.
var ErrNotSMIME = errors.New("smime: not an S/MIME message")

// maxNesting limits how many S/MIME layers Open unwraps (RFC 8551 section
// 3.7 describes triple wrapping, three layers).
const maxNesting = 8

// opener holds what every layer of one Open call needs.
type opener struct {
	cert  *x509.Certificate
	key   crypto.PrivateKey
	roots *x509.CertPool
	opts  *Options
}

// Open reads a complete message or MIME entity, decrypts it with cert and
// key when it is encrypted, and verifies a signature against roots, with
// intermediates taken from the message. A nil roots means the system's
// roots. Layers nest: an encrypted entity that holds a signed one (or the
// reverse) is unwrapped until the entity inside is not S/MIME.
//
// Open returns an error wrapping ErrNotSMIME for an entity that is not
// S/MIME, and an error when decryption fails or a layer is malformed. A
// signature that does not verify is reported in Opened.SignatureErr.
func Open(r io.Reader, cert *x509.Certificate, key crypto.PrivateKey, roots *x509.CertPool, opts *Options) (*Opened, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to read the message: %w", err)
	}
	o := &opener{cert: cert, key: key, roots: roots, opts: opts}

	opened := &Opened{}
	if err := o.open(opened, data, 0); err != nil {
		return nil, err
	}
	return opened, nil
}

// open unwraps one layer of data into opened and recurses into the entity
// inside.
func (o *opener) open(opened *Opened, data []byte, depth int) error {
	entity, err := rawmime.ParseEntity(data)
	if err != nil {
		if depth > 0 {
			opened.Entity = data
			return nil
		}
		return err
	}

	switch {
	case entity.MediaType == "multipart/signed" && isSignatureType(entity.Params["protocol"]):
		if depth >= maxNesting {
			return fmt.Errorf("smime: more than %d nested S/MIME layers", maxNesting)
		}
		return o.openSigned(opened, entity, depth)
	case isPKCS7MIME(entity.MediaType):
		if depth >= maxNesting {
			return fmt.Errorf("smime: more than %d nested S/MIME layers", maxNesting)
		}
		return o.openPKCS7MIME(opened, entity, depth)
	}

	if depth == 0 {
		return fmt.Errorf("%w: Content-Type is %q", ErrNotSMIME, entity.MediaType)
	}
	opened.Entity = data
	return nil
}

// openSigned verifies a multipart/signed entity (RFC 8551 section 3.5.3)
// over the raw bytes of its first part.
func (o *opener) openSigned(opened *Opened, entity *rawmime.Entity, depth int) error {
	parts, err := rawmime.SplitMultipart(entity.Body, entity.Params["boundary"])
	if err != nil {
		return err
	}
	if len(parts) != 2 {
		return fmt.Errorf("smime: multipart/signed has %d parts, want 2", len(parts))
	}

	signaturePart, err := rawmime.ParseEntity(parts[1])
	if err != nil {
		return fmt.Errorf("failed to read the signature part: %w", err)
	}
	if !isSignatureType(signaturePart.MediaType) {
		return fmt.Errorf("smime: signature part has Content-Type %q, want application/pkcs7-signature", signaturePart.MediaType)
	}
	if opened.Micalg == "" {
		opened.Micalg = entity.Params["micalg"]
	}

	result := o.verifyDetached(parts[0], signaturePart)
	if result.err == nil {
		result.err = checkMicalg(entity.Params["micalg"], result.hash)
	}
	recordSignature(opened, result)
	return o.open(opened, parts[0], depth+1)
}

// verifyDetached verifies the SignedData of a signature part over signed.
func (o *opener) verifyDetached(signed []byte, signaturePart *rawmime.Entity) signatureResult {
	der, err := cmsBody(signaturePart)
	if err != nil {
		return signatureResult{err: fmt.Errorf("failed to decode the signature part: %w", err)}
	}
	signedData, err := readSignedData(der)
	if err != nil {
		return signatureResult{err: err}
	}
	return verifySignedData(signedData, signed, o.roots, o.opts.now())
}

// openPKCS7MIME reads an application/pkcs7-mime entity. The CMS content
// type decides what it holds, because the smime-type parameter is
// optional in old messages.
func (o *opener) openPKCS7MIME(opened *Opened, entity *rawmime.Entity, depth int) error {
	der, err := cmsBody(entity)
	if err != nil {
		return err
	}
	contentType, err := contentTypeOf(der)
	if err != nil {
		return err
	}

	switch {
	case contentType.Equal(oidSignedData):
		signedData, err := readSignedData(der)
		if err != nil {
			return err
		}
		result := verifySignedData(signedData, nil, o.roots, o.opts.now())
		recordSignature(opened, result)
		return o.open(opened, signedData.Content, depth+1)
	case contentType.Equal(oidEnvelopedData), contentType.Equal(oidAuthEnvelopedData):
		plaintext, err := o.decrypt(der)
		if err != nil {
			return err
		}
		opened.Encrypted = true
		return o.open(opened, plaintext, depth+1)
	}
	return fmt.Errorf("%w: application/pkcs7-mime contains CMS content type %s", ErrNotSMIME, contentType)
}

// decrypt decrypts EnvelopedData or AuthEnvelopedData with the opener's
// certificate and key.
func (o *opener) decrypt(der []byte) ([]byte, error) {
	if o.cert == nil || o.key == nil {
		return nil, errors.New("smime: message is encrypted; pass the recipient certificate and private key to decrypt it")
	}
	plaintext, err := cms.Decrypt(bytes.NewReader(der), o.cert, o.key)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt the message for %q: %w", o.cert.Subject.String(), err)
	}
	return plaintext, nil
}

// recordSignature merges the outcome of one signature layer into opened:
// SignerCertificate is the innermost signer, and only when every layer
// verified.
func recordSignature(opened *Opened, result signatureResult) {
	opened.Signed = true
	if result.err != nil {
		opened.SignatureErr = errors.Join(opened.SignatureErr, result.err)
		opened.SignerCertificate = nil
		return
	}
	if opened.SignatureErr == nil {
		opened.SignerCertificate = result.signer
	}
}

// checkMicalg checks that the micalg parameter names the hash of the
// signature; RFC 8551 section 3.5.3.2 allows a comma-separated list.
func checkMicalg(micalg string, hash crypto.Hash) error {
	names := strings.Split(strings.ToLower(micalg), ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if !slices.Contains(names, hashNames[hash]) {
		return fmt.Errorf("smime: micalg %q does not name the signature hash %s", micalg, hashNames[hash])
	}
	return nil
}

func isSignatureType(mediaType string) bool {
	mediaType = strings.ToLower(mediaType)
	return mediaType == "application/pkcs7-signature" || mediaType == "application/x-pkcs7-signature"
}

func isPKCS7MIME(mediaType string) bool {
	return mediaType == "application/pkcs7-mime" || mediaType == "application/x-pkcs7-mime"
}
