package smime

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/sealmail/sealmail/crypto/cms"
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
		checker := newTransportChecker(plaintext)
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

// transportChecker passes bytes through to w and rejects an entity that
// would not survive transport unchanged once decrypted: a bare CR or LF, a
// NUL or 8-bit octet, or a line longer than maxLineLength. Unlike a signed
// entity, an encrypted one may have trailing white space and "From " lines,
// because no relay sees them.
type transportChecker struct {
	w          io.Writer
	line       int // 1-based number of the current line
	lineLength int // octets in the current line so far
	pendingCR  bool
}

func newTransportChecker(w io.Writer) *transportChecker {
	return &transportChecker{w: w, line: 1}
}

func (c *transportChecker) Write(p []byte) (int, error) {
	for _, b := range p {
		if err := c.check(b); err != nil {
			return 0, err
		}
	}
	return c.w.Write(p)
}

// check advances the checker by one octet.
func (c *transportChecker) check(b byte) error {
	if c.pendingCR {
		if b != '\n' {
			return c.fail("bare CR")
		}
		c.pendingCR = false
		c.line++
		c.lineLength = 0
		return nil
	}

	switch {
	case b == '\r':
		c.pendingCR = true
		return nil
	case b == '\n':
		return c.fail("bare LF")
	case b == 0:
		return c.fail("NUL octet")
	case b >= 0x80:
		return c.fail(fmt.Sprintf("8-bit octet 0x%02x", b))
	}

	c.lineLength++
	if c.lineLength > maxLineLength {
		return c.fail(fmt.Sprintf("line longer than %d octets", maxLineLength))
	}
	return nil
}

// Close checks that the entity does not end in a bare CR.
func (c *transportChecker) Close() error {
	if c.pendingCR {
		return c.fail("bare CR")
	}
	return nil
}

func (c *transportChecker) fail(reason string) error {
	return fmt.Errorf("smime: invalid entity at line %d: %s (write it 7-bit, with CRLF line endings)", c.line, reason)
}
