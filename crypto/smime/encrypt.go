package smime

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/sealmail/sealmail/crypto/cms"
	"github.com/sealmail/sealmail/internal/rawmime"
)

// Encrypt writes an application/pkcs7-mime entity with smime-type
// enveloped-data (CBC) or authEnveloped-data (GCM) and name=smime.p7m. When
// signer is not nil, the entity body writes is signed first (Sign with the
// same options) and the signed entity is encrypted, as RFC 8551 section 3.7
// recommends.
//
// With the CBC ciphers the entity streams from body through the signature
// and the encryption to w in base64. The GCM ciphers hold the entity in
// memory until it is complete, because Go's AEAD seals in one call. Nothing is written when a recipient certificate
// cannot be used. After a later error, w holds a partial entity that the
// caller must discard.
func Encrypt(w io.Writer, recipients []*x509.Certificate, signer *Signer, body BodyFunc, opts *Options) error {
	if body == nil {
		return errors.New("smime: no body to encrypt")
	}
	cmsOpts := &cms.EncryptOptions{Rand: opts.rand()}
	smimeType := "enveloped-data"
	if opts != nil {
		cmsOpts.Cipher = opts.Cipher
		cmsOpts.KeyTransport = opts.KeyTransport
		if opts.Cipher == cms.AES128GCM || opts.Cipher == cms.AES256GCM {
			smimeType = "authEnveloped-data" // RFC 8551 section 3.2.2
		}
	}

	// The header reaches w with the first byte of the CMS structure, so a
	// recipient that cms.Encrypt rejects leaves w untouched.
	header := "Content-Type: " + opts.mediaType("mime") + "; smime-type=" + smimeType + ";\r\n" +
		" name=\"smime.p7m\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
		"\r\n"
	lines := &base64LineWriter{w: &headerWriter{w: w, header: header}}
	encoder := base64.NewEncoder(base64.StdEncoding, lines)

	plaintext, err := cms.Encrypt(encoder, recipients, cmsOpts)
	if err != nil {
		return fmt.Errorf("smime: %w", err)
	}

	if signer != nil {
		err = Sign(plaintext, signer, body, opts)
	} else {
		checker := rawmime.NewChecker(plaintext, rawmime.CheckOptions{})
		err = body(checker)
		if err == nil {
			err = checker.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("smime: failed to write the entity to encrypt: %w", err)
	}

	if err := plaintext.Close(); err != nil {
		return fmt.Errorf("smime: failed to finish the enveloped data: %w", err)
	}
	if err := encoder.Close(); err != nil {
		return fmt.Errorf("smime: failed to write the application/pkcs7-mime body: %w", err)
	}
	if err := lines.Close(); err != nil {
		return fmt.Errorf("smime: failed to write the application/pkcs7-mime body: %w", err)
	}
	return nil
}

// headerWriter writes header to w before the first bytes written through it.
type headerWriter struct {
	w       io.Writer
	header  string
	written bool
}

func (h *headerWriter) Write(p []byte) (int, error) {
	if !h.written {
		if _, err := io.WriteString(h.w, h.header); err != nil {
			return 0, err
		}
		h.written = true
	}
	return h.w.Write(p)
}

// base64LineWriter breaks the output of a base64 encoder into lines of
// base64LineLength characters, each ending in CRLF (RFC 2045 section 6.8).
type base64LineWriter struct {
	w          io.Writer
	lineLength int // characters in the current line so far
}

var crlf = []byte("\r\n")

func (l *base64LineWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(base64LineLength-l.lineLength, len(p))
		if _, err := l.w.Write(p[:n]); err != nil {
			return written, err
		}
		written += n
		l.lineLength += n
		p = p[n:]

		if l.lineLength == base64LineLength {
			if _, err := l.w.Write(crlf); err != nil {
				return written, err
			}
			l.lineLength = 0
		}
	}
	return written, nil
}

// Close ends a last, shorter line.
func (l *base64LineWriter) Close() error {
	if l.lineLength == 0 {
		return nil
	}
	l.lineLength = 0
	_, err := l.w.Write(crlf)
	return err
}
