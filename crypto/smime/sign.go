package smime

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// Sign writes a signed entity to w: its header fields, an empty line and its
// body. The default is multipart/signed with protocol and micalg matching
// the signature part; Options.Opaque writes the opaque form instead. The
// bytes body writes are signed and written unchanged.
//
// The detached form streams: only the digest of the entity is kept. The
// opaque form holds the entity in memory, several copies of it while the
// DER SignedData is built.
func Sign(w io.Writer, signer *Signer, body BodyFunc, opts *Options) error {
	scheme, err := checkSigner(signer)
	if err != nil {
		return err
	}
	if body == nil {
		return errors.New("smime: no body to sign")
	}
	if opts.opaque() {
		return signOpaque(w, signer, scheme, body, opts)
	}
	return signDetached(w, signer, scheme, body, opts)
}

// checkSigner checks that signer has a certificate and a matching key that
// sealmail can sign with, and returns the algorithms to use.
func checkSigner(signer *Signer) (signatureScheme, error) {
	if signer == nil || signer.Certificate == nil {
		return signatureScheme{}, errors.New("smime: no signer certificate")
	}
	if signer.Key == nil {
		return signatureScheme{}, fmt.Errorf("smime: no private key for certificate %q", signer.Certificate.Subject.String())
	}
	scheme, err := schemeFor(signer.Key.Public())
	if err != nil {
		return signatureScheme{}, err
	}
	public, ok := signer.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !public.Equal(signer.Certificate.PublicKey) {
		return signatureScheme{}, fmt.Errorf("smime: private key does not match certificate %q", signer.Certificate.Subject.String())
	}
	return scheme, nil
}

// signDetached writes multipart/signed (RFC 8551 section 3.5.3): the entity
// as the first part, hashed while it streams to w, and a detached
// SignedData as the second part.
func signDetached(w io.Writer, signer *Signer, scheme signatureScheme, body BodyFunc, opts *Options) error {
	boundary, err := rawmime.NewBoundary(opts.rand(), "smime.")
	if err != nil {
		return err
	}
	signatureType := opts.mediaType("signature")

	header := "Content-Type: multipart/signed; protocol=\"" + signatureType + "\";\r\n" +
		" micalg=" + scheme.micalg + "; boundary=\"" + boundary + "\"\r\n" +
		"\r\n" +
		"This is a cryptographically signed message in MIME format.\r\n" +
		"\r\n" +
		"--" + boundary + "\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("failed to write the multipart/signed header: %w", err)
	}

	digest := scheme.hash.New()
	checker := rawmime.NewChecker(io.MultiWriter(w, digest), signedEntity)
	if err := body(checker); err != nil {
		return fmt.Errorf("failed to write the entity to sign: %w", err)
	}
	if err := checker.Close(); err != nil {
		return err
	}

	der, err := buildSignedData(signedDataParams{
		signer: signer,
		scheme: scheme,
		digest: digest.Sum(nil),
		now:    opts.now(),
		rand:   opts.rand(),
	})
	if err != nil {
		return err
	}

	part := "\r\n--" + boundary + "\r\n" +
		"Content-Type: " + signatureType + "; name=\"smime.p7s\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n" +
		"Content-Description: S/MIME Cryptographic Signature\r\n" +
		"\r\n"
	if _, err := io.WriteString(w, part); err != nil {
		return fmt.Errorf("failed to write the signature part: %w", err)
	}
	if err := writeBase64Lines(w, der); err != nil {
		return fmt.Errorf("failed to write the signature part: %w", err)
	}
	if _, err := io.WriteString(w, "\r\n--"+boundary+"--\r\n"); err != nil {
		return fmt.Errorf("failed to write the close delimiter: %w", err)
	}
	return nil
}

// signOpaque writes application/pkcs7-mime; smime-type=signed-data
// (RFC 8551 section 3.5.2): a SignedData that contains the entity.
func signOpaque(w io.Writer, signer *Signer, scheme signatureScheme, body BodyFunc, opts *Options) error {
	// NOTE: DER needs the content length before the content, so the
	// entity is held in memory here.
	var entity bytes.Buffer
	checker := rawmime.NewChecker(&entity, signedEntity)
	if err := body(checker); err != nil {
		return fmt.Errorf("failed to write the entity to sign: %w", err)
	}
	if err := checker.Close(); err != nil {
		return err
	}

	digest := scheme.hash.New()
	digest.Write(entity.Bytes())
	der, err := buildSignedData(signedDataParams{
		signer:  signer,
		scheme:  scheme,
		digest:  digest.Sum(nil),
		content: entity.Bytes(),
		now:     opts.now(),
		rand:    opts.rand(),
	})
	if err != nil {
		return err
	}

	return writePKCS7MIME(w, opts, "signed-data", der)
}

// writePKCS7MIME writes an application/pkcs7-mime entity with the given
// smime-type whose body is der in base64.
func writePKCS7MIME(w io.Writer, opts *Options, smimeType string, der []byte) error {
	header := "Content-Type: " + opts.mediaType("mime") + "; smime-type=" + smimeType + ";\r\n" +
		" name=\"smime.p7m\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
		"\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("failed to write the application/pkcs7-mime header: %w", err)
	}
	if err := writeBase64Lines(w, der); err != nil {
		return fmt.Errorf("failed to write the application/pkcs7-mime body: %w", err)
	}
	return nil
}

func (o *Options) opaque() bool {
	return o != nil && o.Opaque
}

// mediaType returns application/pkcs7-<subtype>, or the x-pkcs7 form with
// LegacyTypes.
func (o *Options) mediaType(subtype string) string {
	if o != nil && o.LegacyTypes {
		return "application/x-pkcs7-" + subtype
	}
	return "application/pkcs7-" + subtype
}

func (o *Options) now() time.Time {
	if o != nil && o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) rand() io.Reader {
	if o != nil && o.Rand != nil {
		return o.Rand
	}
	return rand.Reader
}

// signedEntity are the rules for an entity to sign: 7-bit with CRLF, and
// nothing that relays rewrite (trailing white space, "From " lines, a
// MIME-Version field inside the part).
var signedEntity = rawmime.CheckOptions{Signed: true, NoMIMEVersion: true}
