package cms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	cryptorand "crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// chunkSize is the size of each OCTET STRING of the encrypted content, a
// whole number of AES blocks.
const chunkSize = 64 << 10

// gcmTagSize is the ICV length that Encrypt writes in GCMParameters
// (RFC 5084 section 3.2), in bytes.
const gcmTagSize = 16

// endOfContents closes one indefinite-length element.
var endOfContents = []byte{0, 0}

// Encrypt returns a writer: what is written to it is encrypted to every
// recipient, and a ContentInfo holding EnvelopedData (CBC ciphers) or
// AuthEnvelopedData (GCM ciphers) is written to w in BER, streaming where
// the cipher allows it. Close finishes the structure. Each recipient is an
// RSA certificate (key transport) or an EC P-256 or P-384 certificate (key
// agreement); any other key fails before anything is written.
func Encrypt(w io.Writer, recipients []*x509.Certificate, opts *EncryptOptions) (io.WriteCloser, error) {
	if opts == nil {
		opts = &EncryptOptions{}
	}
	rand := opts.Rand
	if rand == nil {
		rand = cryptorand.Reader
	}
	alg, err := cipherFor(opts.Cipher)
	if err != nil {
		return nil, err
	}

	// Fail closed: every recipient must be usable before any key is made.
	if len(recipients) == 0 {
		return nil, errors.New("cms: no recipients: a message must be encrypted to at least one certificate")
	}
	allKeyTransport := true
	for i, cert := range recipients {
		if cert == nil {
			return nil, fmt.Errorf("cms: recipient %d is a nil certificate", i)
		}
		kind, err := checkRecipient(cert)
		if err != nil {
			return nil, err
		}
		allKeyTransport = allKeyTransport && kind == keyTransport
	}

	cek := make([]byte, alg.keySize)
	if _, err := io.ReadFull(rand, cek); err != nil {
		return nil, fmt.Errorf("cms: failed to read random bytes for the content key: %w", err)
	}
	recipientInfos, err := buildRecipientInfos(recipients, cek, opts.KeyTransport, rand)
	if err != nil {
		return nil, err
	}

	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("cms: %w", err)
	}
	ivSize := aes.BlockSize
	if alg.gcm {
		ivSize = 12 // the nonce size RFC 5084 section 3.2 recommends
	}
	iv := make([]byte, ivSize)
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, fmt.Errorf("cms: failed to read random bytes for the IV: %w", err)
	}

	// EnvelopedData is version 0 when every recipient is a version 0
	// KeyTransRecipientInfo and 2 otherwise (RFC 5652 section 6.1);
	// AuthEnvelopedData is always version 0 (RFC 5083 section 2.1).
	version := int64(2)
	if alg.gcm || allKeyTransport {
		version = 0
	}
	contentType := oidEnvelopedData
	if alg.gcm {
		contentType = oidAuthEnvelopedData
	}

	var header cryptobyte.Builder
	header.AddBytes([]byte{0x30, 0x80}) // ContentInfo
	header.AddASN1ObjectIdentifier(contentType)
	header.AddBytes([]byte{0xa0, 0x80}) // [0] EXPLICIT content
	header.AddBytes([]byte{0x30, 0x80}) // EnvelopedData or AuthEnvelopedData
	header.AddASN1Int64(version)
	header.AddBytes(recipientInfos)
	header.AddBytes([]byte{0x30, 0x80}) // EncryptedContentInfo
	header.AddASN1ObjectIdentifier(oidData)
	addContentAlgorithm(&header, alg, iv)
	header.AddBytes([]byte{0xa0, 0x80}) // [0] IMPLICIT encryptedContent, constructed
	headerBytes, err := header.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cms: failed to encode the message header: %w", err)
	}

	if _, err := w.Write(headerBytes); err != nil {
		return nil, err
	}
	if alg.gcm {
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("cms: %w", err)
		}
		return &gcmWriter{w: w, aead: aead, nonce: iv}, nil
	}
	return &cbcWriter{w: w, mode: cipher.NewCBCEncrypter(block, iv), buf: make([]byte, 0, chunkSize)}, nil
}

// buildRecipientInfos returns the DER of the RecipientInfos SET with one
// recipient info per distinct certificate.
func buildRecipientInfos(recipients []*x509.Certificate, cek []byte, transport KeyTransport, rand io.Reader) ([]byte, error) {
	var b cryptobyte.Builder
	var firstErr error
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		seen := make(map[string]bool)
		for _, cert := range recipients {
			if seen[string(cert.Raw)] {
				continue
			}
			seen[string(cert.Raw)] = true

			var err error
			if kind, _ := checkRecipient(cert); kind == keyTransport {
				err = addKeyTransRecipientInfo(b, cert, cek, transport, rand)
			} else {
				err = addKeyAgreeRecipientInfo(b, cert, cek, rand)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cms: failed to encode the recipient infos: %w", err)
	}
	return out, nil
}

// addContentAlgorithm adds the contentEncryptionAlgorithm: AES-CBC with the
// IV as its parameter (RFC 3565 section 4.1), or AES-GCM with
// GCMParameters (RFC 5084 section 3.2).
func addContentAlgorithm(b *cryptobyte.Builder, alg contentCipher, iv []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(alg.oid)
		if !alg.gcm {
			b.AddASN1OctetString(iv)
			return
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(iv)
			b.AddASN1Int64(gcmTagSize)
		})
	})
}

// writeChunk writes p as one primitive OCTET STRING of the constructed
// encryptedContent.
func writeChunk(w io.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	header := appendLength([]byte{0x04}, len(p))
	if _, err := w.Write(header); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// errClosed is returned by Write and Close after Close.
var errClosed = errors.New("cms: write after Close")

// cbcWriter encrypts with AES-CBC, one chunk at a time.
type cbcWriter struct {
	w      io.Writer
	mode   cipher.BlockMode
	buf    []byte // plaintext not yet encrypted, less than chunkSize bytes
	err    error  // the first error, returned from then on
	closed bool
}

func (c *cbcWriter) Write(p []byte) (int, error) {
	if c.closed {
		return 0, errClosed
	}
	if c.err != nil {
		return 0, c.err
	}

	written := 0
	for len(p) > 0 {
		n := min(chunkSize-len(c.buf), len(p))
		c.buf = append(c.buf, p[:n]...)
		p = p[n:]
		written += n

		if len(c.buf) == chunkSize {
			c.mode.CryptBlocks(c.buf, c.buf)
			if err := writeChunk(c.w, c.buf); err != nil {
				c.err = err
				return written, err
			}
			c.buf = c.buf[:0]
		}
	}
	return written, nil
}

// Close pads the last block (PKCS #7, RFC 5652 section 6.3), writes it and
// ends the indefinite-length elements.
func (c *cbcWriter) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if c.err != nil {
		return c.err
	}

	padding := aes.BlockSize - len(c.buf)%aes.BlockSize
	c.buf = append(c.buf, bytes.Repeat([]byte{byte(padding)}, padding)...)
	c.mode.CryptBlocks(c.buf, c.buf)
	if err := writeChunk(c.w, c.buf); err != nil {
		c.err = err
		return err
	}

	// encryptedContent, EncryptedContentInfo, EnvelopedData, [0], ContentInfo.
	_, err := c.w.Write(bytes.Repeat(endOfContents, 5))
	c.err = err
	return err
}

// gcmWriter encrypts with AES-GCM.
//
// NOTE: Go's AEAD seals in one call, so the whole content is held in memory
// until Close; only the CBC ciphers stream.
type gcmWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	nonce  []byte
	buf    bytes.Buffer
	err    error
	closed bool
}

func (g *gcmWriter) Write(p []byte) (int, error) {
	if g.closed {
		return 0, errClosed
	}
	return g.buf.Write(p)
}

// Close seals the content and writes it, the end of the
// authEncryptedContentInfo and the mac (RFC 5083 section 2.1). The
// additional data is empty because authAttrs is absent.
func (g *gcmWriter) Close() error {
	if g.closed {
		return g.err
	}
	g.closed = true

	plaintext := g.buf.Bytes()
	sealed := g.aead.Seal(plaintext[:0], g.nonce, plaintext, nil)
	ciphertext, tag := sealed[:len(sealed)-gcmTagSize], sealed[len(sealed)-gcmTagSize:]

	for len(ciphertext) > 0 {
		n := min(chunkSize, len(ciphertext))
		if err := writeChunk(g.w, ciphertext[:n]); err != nil {
			g.err = err
			return err
		}
		ciphertext = ciphertext[n:]
	}

	var tail []byte
	tail = append(tail, bytes.Repeat(endOfContents, 2)...) // encryptedContent, authEncryptedContentInfo
	tail = append(tail, 0x04, gcmTagSize)
	tail = append(tail, tag...)
	tail = append(tail, bytes.Repeat(endOfContents, 3)...) // AuthEnvelopedData, [0], ContentInfo
	_, err := g.w.Write(tail)
	g.err = err
	return err
}
