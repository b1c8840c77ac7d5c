package cms

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
)

// errDecrypt is the one error for a wrong key, bad padding or a bad tag, so
// that the error reveals nothing about the plaintext beyond the failure.
var errDecrypt = errors.New("cms: decryption failed: the key does not match or the message was altered")

// envelope is the part of EnvelopedData or AuthEnvelopedData that Decrypt
// needs.
type envelope struct {
	auth             bool
	recipientInfos   []*node
	contentAlgorithm *node
	encryptedContent []byte
	mac              []byte
	authAttrs        []byte // DER of authAttrs with the SET OF tag: the GCM additional data
}

// Decrypt reads a ContentInfo in DER or BER holding EnvelopedData or
// AuthEnvelopedData, finds the recipient info for cert, and returns the
// decrypted content. It reads untrusted input: bad padding, a bad tag or a
// malformed structure is an error, never a panic. The key is an
// *rsa.PrivateKey (or another crypto.Decrypter of an RSA key), an
// *ecdsa.PrivateKey or an *ecdh.PrivateKey, and must match cert.
func Decrypt(r io.Reader, cert *x509.Certificate, key crypto.PrivateKey) ([]byte, error) {
	if cert == nil {
		return nil, errors.New("cms: no certificate to decrypt for: pass the recipient's certificate")
	}
	if err := checkKeyMatches(cert, key); err != nil {
		return nil, err
	}

	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cms: failed to read the message: %w", err)
	}
	root, err := parseBER(data)
	if err != nil {
		return nil, err
	}
	env, err := parseEnvelope(root)
	if err != nil {
		return nil, err
	}

	alg, params, err := parseAlgorithm(env.contentAlgorithm)
	if err != nil {
		return nil, err
	}
	content, err := cipherByOID(alg)
	if err != nil {
		return nil, err
	}
	if content.gcm != env.auth {
		if env.auth {
			return nil, fmt.Errorf("cms: AuthEnvelopedData with the non-AEAD cipher %s: the message is invalid", alg)
		}
		return nil, fmt.Errorf("cms: EnvelopedData with the AEAD cipher %s: AES-GCM belongs in AuthEnvelopedData, the message is invalid", alg)
	}

	cek, err := recipientKey(env.recipientInfos, cert, key, content.keySize)
	if err != nil {
		return nil, err
	}
	if content.gcm {
		return decryptGCM(cek, params, env)
	}
	return decryptCBC(cek, params, env.encryptedContent)
}

// parseEnvelope reads a ContentInfo (RFC 5652 section 3) holding
// EnvelopedData (section 6.1) or AuthEnvelopedData (RFC 5083 section 2.1).
func parseEnvelope(root *node) (*envelope, error) {
	if !root.is(asn1.ClassUniversal, asn1.TagSequence, true) || len(root.children) != 2 {
		return nil, fmt.Errorf("%w: not a ContentInfo", errMalformed)
	}
	contentType, err := root.children[0].oid()
	if err != nil {
		return nil, err
	}
	wrapper := root.children[1]
	if !wrapper.is(asn1.ClassContextSpecific, 0, true) || len(wrapper.children) != 1 {
		return nil, fmt.Errorf("%w: ContentInfo without content", errMalformed)
	}

	env := &envelope{}
	switch {
	case contentType.Equal(oidEnvelopedData):
	case contentType.Equal(oidAuthEnvelopedData):
		env.auth = true
	default:
		return nil, fmt.Errorf("cms: content type %s is not EnvelopedData or AuthEnvelopedData: the message is not encrypted", contentType)
	}

	seq := wrapper.children[0]
	if !seq.is(asn1.ClassUniversal, asn1.TagSequence, true) {
		return nil, fmt.Errorf("%w: content is not a SEQUENCE", errMalformed)
	}

	fields := seq.children
	next := func() *node {
		if len(fields) == 0 {
			return nil
		}
		n := fields[0]
		fields = fields[1:]
		return n
	}

	if _, err := next().integer(); err != nil {
		return nil, fmt.Errorf("%w: missing version", errMalformed)
	}
	ris := next()
	if ris.is(asn1.ClassContextSpecific, 0, true) { // originatorInfo
		ris = next()
	}
	if !ris.is(asn1.ClassUniversal, asn1.TagSet, true) {
		return nil, fmt.Errorf("%w: missing recipientInfos", errMalformed)
	}
	env.recipientInfos = ris.children

	eci := next()
	if !eci.is(asn1.ClassUniversal, asn1.TagSequence, true) || len(eci.children) < 2 {
		return nil, fmt.Errorf("%w: missing EncryptedContentInfo", errMalformed)
	}
	env.contentAlgorithm = eci.children[1]
	if len(eci.children) < 3 {
		return nil, errors.New("cms: the message has no encrypted content (detached content is not supported)")
	}
	ec := eci.children[2]
	if ec.class != asn1.ClassContextSpecific || ec.tag != 0 {
		return nil, fmt.Errorf("%w: invalid encryptedContent", errMalformed)
	}
	if env.encryptedContent, err = ec.octets(); err != nil {
		return nil, err
	}

	if !env.auth {
		return env, nil
	}
	mac := next()
	if mac.is(asn1.ClassContextSpecific, 1, true) {
		// The additional data is the DER of authAttrs with the SET OF tag
		// (RFC 5083 section 2.2).
		attrs := mac.der()
		env.authAttrs = append([]byte{0x31}, attrs[1:]...)
		mac = next()
	}
	if !mac.is(asn1.ClassUniversal, asn1.TagOctetString, false) && !mac.is(asn1.ClassUniversal, asn1.TagOctetString, true) {
		return nil, fmt.Errorf("%w: missing mac", errMalformed)
	}
	if env.mac, err = mac.octets(); err != nil {
		return nil, err
	}
	return env, nil
}

// parseAlgorithm reads an AlgorithmIdentifier and returns its OID and its
// parameters, nil when absent.
func parseAlgorithm(n *node) (asn1.ObjectIdentifier, *node, error) {
	if !n.is(asn1.ClassUniversal, asn1.TagSequence, true) || len(n.children) == 0 || len(n.children) > 2 {
		return nil, nil, fmt.Errorf("%w: invalid AlgorithmIdentifier", errMalformed)
	}
	oid, err := n.children[0].oid()
	if err != nil {
		return nil, nil, err
	}
	if len(n.children) == 1 {
		return oid, nil, nil
	}
	return oid, n.children[1], nil
}

// decryptCBC decrypts AES-CBC content and removes its PKCS #7 padding.
func decryptCBC(cek []byte, params *node, ciphertext []byte) ([]byte, error) {
	if !params.is(asn1.ClassUniversal, asn1.TagOctetString, false) || len(params.content) != aes.BlockSize {
		return nil, fmt.Errorf("%w: AES-CBC without a 16-byte IV", errMalformed)
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: AES-CBC content of %d bytes is not a whole number of blocks", errMalformed, len(ciphertext))
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, errDecrypt
	}

	plaintext := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, params.content).CryptBlocks(plaintext, ciphertext)

	padding := int(plaintext[len(plaintext)-1])
	if padding == 0 || padding > aes.BlockSize {
		return nil, errDecrypt
	}
	want := bytes.Repeat([]byte{byte(padding)}, padding)
	if subtle.ConstantTimeCompare(plaintext[len(plaintext)-padding:], want) != 1 {
		return nil, errDecrypt
	}
	return plaintext[:len(plaintext)-padding], nil
}

// decryptGCM decrypts AES-GCM content with GCMParameters (RFC 5084 section
// 3.2) and checks the tag in mac.
func decryptGCM(cek []byte, params *node, env *envelope) ([]byte, error) {
	if !params.is(asn1.ClassUniversal, asn1.TagSequence, true) || len(params.children) == 0 || len(params.children) > 2 {
		return nil, fmt.Errorf("%w: invalid GCMParameters", errMalformed)
	}
	nonce := params.children[0]
	if !nonce.is(asn1.ClassUniversal, asn1.TagOctetString, false) || len(nonce.content) == 0 {
		return nil, fmt.Errorf("%w: invalid GCM nonce", errMalformed)
	}
	tagSize := 12 // the DEFAULT of aes-ICVlen
	if len(params.children) == 2 {
		v, err := params.children[1].integer()
		if err != nil || !v.IsInt64() || v.Int64() < 12 || v.Int64() > 16 {
			return nil, fmt.Errorf("%w: invalid GCM ICV length", errMalformed)
		}
		tagSize = int(v.Int64())
	}
	if len(env.mac) != tagSize {
		return nil, fmt.Errorf("%w: mac of %d bytes where GCMParameters say %d", errMalformed, len(env.mac), tagSize)
	}

	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, errDecrypt
	}
	var aead cipher.AEAD
	switch {
	case len(nonce.content) == 12:
		aead, err = cipher.NewGCMWithTagSize(block, tagSize)
	case tagSize == 16:
		aead, err = cipher.NewGCMWithNonceSize(block, len(nonce.content))
	default:
		return nil, fmt.Errorf("cms: unsupported GCM parameters: a %d-byte nonce with a %d-byte ICV", len(nonce.content), tagSize)
	}
	if err != nil {
		return nil, fmt.Errorf("cms: unsupported GCM parameters: %w", err)
	}

	sealed := make([]byte, 0, len(env.encryptedContent)+len(env.mac))
	sealed = append(sealed, env.encryptedContent...)
	sealed = append(sealed, env.mac...)
	plaintext, err := aead.Open(sealed[:0], nonce.content, sealed, env.authAttrs)
	if err != nil {
		return nil, errDecrypt
	}
	return plaintext, nil
}
