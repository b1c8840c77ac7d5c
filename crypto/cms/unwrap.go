package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
)

// checkKeyMatches returns an error unless key is a supported private key
// for the public key of cert.
func checkKeyMatches(cert *x509.Certificate, key crypto.PrivateKey) error {
	signer, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok || key == nil {
		return fmt.Errorf("cms: unsupported private key type %T: use an RSA, ECDSA or ECDH key", key)
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return fmt.Errorf("cms: certificate %q has a %s key, which cannot decrypt", cert.Subject.String(), cert.PublicKeyAlgorithm)
	}

	keyPub := signer.Public()
	if ecdhKey, isECDH := key.(*ecdh.PrivateKey); isECDH {
		// Certificates hold EC keys as *ecdsa.PublicKey; compare the points.
		if certEC, isEC := cert.PublicKey.(*ecdsa.PublicKey); isEC {
			certECDH, err := certEC.ECDH()
			if err == nil && certECDH.Equal(ecdhKey.PublicKey()) {
				return nil
			}
		}
	} else if pub.Equal(keyPub) {
		return nil
	}
	return fmt.Errorf("cms: the private key does not match the public key of certificate %q: pass the key of that certificate", cert.Subject.String())
}

// recipientKey finds the recipient info for cert among recipientInfos and
// returns the content-encryption key of keySize bytes.
func recipientKey(recipientInfos []*node, cert *x509.Certificate, key crypto.PrivateKey, keySize int) ([]byte, error) {
	for _, ri := range recipientInfos {
		switch {
		case ri.is(asn1.ClassUniversal, asn1.TagSequence, true):
			if matched, cek, err := keyTransRecipient(ri, cert, key, keySize); matched {
				return cek, err
			}
		case ri.is(asn1.ClassContextSpecific, 1, true):
			if matched, cek, err := keyAgreeRecipient(ri, cert, key, keySize); matched {
				return cek, err
			}
		}
		// KEKRecipientInfo, PasswordRecipientInfo and OtherRecipientInfo
		// never name a certificate.
	}
	return nil, fmt.Errorf("%w (%q, serial %s): the message was not encrypted to it", ErrNoRecipient, cert.Subject.String(), cert.SerialNumber)
}

// matchesRecipient reports whether rid, an IssuerAndSerialNumber or a
// [0] SubjectKeyIdentifier, identifies cert.
func matchesRecipient(rid *node, cert *x509.Certificate) bool {
	switch {
	case rid.is(asn1.ClassUniversal, asn1.TagSequence, true):
		if len(rid.children) != 2 {
			return false
		}
		serial, err := rid.children[1].integer()
		if err != nil {
			return false
		}
		return serial.Cmp(cert.SerialNumber) == 0 && bytes.Equal(rid.children[0].der(), cert.RawIssuer)
	case rid.class == asn1.ClassContextSpecific && rid.tag == 0 && !rid.constructed:
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(rid.content, cert.SubjectKeyId)
	}
	return false
}

// keyTransRecipient decrypts the key of a KeyTransRecipientInfo (RFC 5652
// section 6.2.1) when it names cert.
func keyTransRecipient(ri *node, cert *x509.Certificate, key crypto.PrivateKey, keySize int) (matched bool, cek []byte, err error) {
	if len(ri.children) != 4 || !matchesRecipient(ri.children[1], cert) {
		return false, nil, nil
	}
	decrypter, ok := key.(crypto.Decrypter)
	if _, isRSA := cert.PublicKey.(*rsa.PublicKey); !ok || !isRSA {
		return true, nil, fmt.Errorf("cms: the message uses RSA key transport for certificate %q, which has a %s key", cert.Subject.String(), cert.PublicKeyAlgorithm)
	}
	alg, params, err := parseAlgorithm(ri.children[2])
	if err != nil {
		return true, nil, err
	}
	encryptedKey := ri.children[3]
	if !encryptedKey.isUniversal(asn1.TagOctetString) {
		return true, nil, fmt.Errorf("%w: invalid encryptedKey", errMalformed)
	}
	ciphertext, err := encryptedKey.octets()
	if err != nil {
		return true, nil, err
	}

	switch {
	case alg.Equal(oidRSAEncryption):
		// With SessionKeyLen a bad padding yields a random key in constant
		// time, and the content decryption fails instead (RFC 3218 section
		// 2.3.2).
		cek, err = decrypter.Decrypt(rand.Reader, ciphertext, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: keySize})
	case alg.Equal(oidRSAESOAEP):
		var opts *rsa.OAEPOptions
		opts, err = parseOAEPParams(params)
		if err != nil {
			return true, nil, err
		}
		cek, err = decrypter.Decrypt(rand.Reader, ciphertext, opts)
	default:
		return true, nil, fmt.Errorf("cms: unsupported key transport algorithm %s: only rsaEncryption and RSAES-OAEP are supported", alg)
	}
	if err != nil || len(cek) != keySize {
		return true, nil, errDecrypt
	}
	return true, cek, nil
}

// parseOAEPParams reads RSAES-OAEP-params (RFC 4055 section 4.1): absent
// fields mean SHA-1, MGF1 with SHA-1 and an empty label.
func parseOAEPParams(params *node) (*rsa.OAEPOptions, error) {
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if params == nil || params.isUniversal(asn1.TagNull) {
		return opts, nil
	}
	if !params.is(asn1.ClassUniversal, asn1.TagSequence, true) {
		return nil, fmt.Errorf("%w: invalid RSAES-OAEP-params", errMalformed)
	}
	for _, field := range params.children {
		if field.class != asn1.ClassContextSpecific || !field.constructed || len(field.children) != 1 {
			return nil, fmt.Errorf("%w: invalid RSAES-OAEP-params", errMalformed)
		}
		alg, algParams, err := parseAlgorithm(field.children[0])
		if err != nil {
			return nil, err
		}
		switch field.tag {
		case 0: // hashFunc
			if opts.Hash, err = hashByOID(alg); err != nil {
				return nil, err
			}
		case 1: // maskGenFunc
			if !alg.Equal(oidMGF1) || algParams == nil {
				return nil, fmt.Errorf("cms: unsupported OAEP mask generation function %s: only MGF1 is supported", alg)
			}
			mgfHash, _, err := parseAlgorithm(algParams)
			if err != nil {
				return nil, err
			}
			if opts.MGFHash, err = hashByOID(mgfHash); err != nil {
				return nil, err
			}
		case 2: // pSourceFunc
			if !alg.Equal(oidPSpecified) || !algParams.is(asn1.ClassUniversal, asn1.TagOctetString, false) {
				return nil, fmt.Errorf("cms: unsupported OAEP label source %s", alg)
			}
			opts.Label = algParams.content
		default:
			return nil, fmt.Errorf("%w: invalid RSAES-OAEP-params", errMalformed)
		}
	}
	return opts, nil
}

// hashByOID returns the SHA-1 or SHA-2 hash that oid names.
func hashByOID(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1, nil
	case oid.Equal(oidSHA224):
		return crypto.SHA224, nil
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("cms: unsupported hash algorithm %s: only SHA-1 and SHA-2 are supported", oid)
}

// kdfHash returns the hash of the X9.63 KDF of an ECDH key agreement
// scheme (RFC 5753 section 7.1.4).
func kdfHash(scheme asn1.ObjectIdentifier) (func() hash.Hash, error) {
	switch {
	case scheme.Equal(oidECDHStdSHA1KDF), scheme.Equal(oidECDHCofactorSHA1KDF):
		return sha1.New, nil
	case scheme.Equal(oidECDHStdSHA224KDF), scheme.Equal(oidECDHCofactorSHA224KDF):
		return sha256.New224, nil
	case scheme.Equal(oidECDHStdSHA256KDF), scheme.Equal(oidECDHCofactorSHA256KDF):
		return sha256.New, nil
	case scheme.Equal(oidECDHStdSHA384KDF), scheme.Equal(oidECDHCofactorSHA384KDF):
		return sha512.New384, nil
	case scheme.Equal(oidECDHStdSHA512KDF), scheme.Equal(oidECDHCofactorSHA512KDF):
		return sha512.New, nil
	}
	return nil, fmt.Errorf("cms: unsupported key agreement algorithm %s: only ECDH with the X9.63 KDF is supported", scheme)
}

// wrapKeySize returns the key-encryption key size of an AES key wrap.
func wrapKeySize(wrap asn1.ObjectIdentifier) (int, error) {
	switch {
	case wrap.Equal(oidAES128Wrap):
		return 16, nil
	case wrap.Equal(oidAES192Wrap):
		return 24, nil
	case wrap.Equal(oidAES256Wrap):
		return 32, nil
	}
	return 0, fmt.Errorf("cms: unsupported key wrap algorithm %s: only AES key wrap is supported", wrap)
}

// keyAgreeRecipient derives the key of a KeyAgreeRecipientInfo (RFC 5652
// section 6.2.2, RFC 5753 section 3.1.2) when one of its recipient
// encrypted keys names cert.
func keyAgreeRecipient(ri *node, cert *x509.Certificate, key crypto.PrivateKey, keySize int) (matched bool, cek []byte, err error) {
	fields := ri.children
	if len(fields) < 4 || len(fields) > 5 {
		return false, nil, nil
	}
	originator, keyEncryption, encryptedKeys := fields[1], fields[len(fields)-2], fields[len(fields)-1]
	var ukm []byte
	if len(fields) == 5 {
		ukmNode := fields[2]
		if !ukmNode.is(asn1.ClassContextSpecific, 1, true) || len(ukmNode.children) != 1 || !ukmNode.children[0].isUniversal(asn1.TagOctetString) {
			return false, nil, nil
		}
		if ukm, err = ukmNode.children[0].octets(); err != nil {
			return false, nil, nil
		}
		if ukm == nil {
			ukm = []byte{}
		}
	}
	if !encryptedKeys.is(asn1.ClassUniversal, asn1.TagSequence, true) {
		return false, nil, nil
	}

	var wrapped []byte
	for _, rek := range encryptedKeys.children {
		if len(rek.children) != 2 {
			continue
		}
		rid := rek.children[0]
		if rid.is(asn1.ClassContextSpecific, 0, true) {
			// rKeyId [0] RecipientKeyIdentifier: its first field is the
			// SubjectKeyIdentifier.
			if len(rid.children) == 0 || !rid.children[0].is(asn1.ClassUniversal, asn1.TagOctetString, false) {
				continue
			}
			rid = &node{class: asn1.ClassContextSpecific, tag: 0, content: rid.children[0].content}
		}
		if matchesRecipient(rid, cert) && rek.children[1].is(asn1.ClassUniversal, asn1.TagOctetString, false) {
			wrapped = rek.children[1].content
			break
		}
	}
	if wrapped == nil {
		return false, nil, nil
	}

	cek, err = agreeAndUnwrap(originator, keyEncryption, ukm, wrapped, cert, key)
	if err != nil {
		return true, nil, err
	}
	if len(cek) != keySize {
		return true, nil, errDecrypt
	}
	return true, cek, nil
}

// agreeAndUnwrap computes the ECDH shared secret of the originator's
// ephemeral key and key, derives the key-encryption key and unwraps the
// content-encryption key.
func agreeAndUnwrap(originator, keyEncryption *node, ukm, wrapped []byte, cert *x509.Certificate, key crypto.PrivateKey) ([]byte, error) {
	var private *ecdh.PrivateKey
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		var err error
		if private, err = k.ECDH(); err != nil {
			return nil, fmt.Errorf("cms: unsupported EC key: %w", err)
		}
	case *ecdh.PrivateKey:
		private = k
	default:
		return nil, fmt.Errorf("cms: the message uses ECDH for certificate %q, which needs an EC private key, not %T", cert.Subject.String(), key)
	}

	// originator [0] EXPLICIT holding originatorKey [1] OriginatorPublicKey.
	if !originator.is(asn1.ClassContextSpecific, 0, true) || len(originator.children) != 1 {
		return nil, fmt.Errorf("%w: invalid originator", errMalformed)
	}
	originatorKey := originator.children[0]
	if !originatorKey.is(asn1.ClassContextSpecific, 1, true) || len(originatorKey.children) != 2 {
		return nil, errors.New("cms: the originator is not an ephemeral key: static-static ECDH is not supported")
	}
	point := originatorKey.children[1]
	if !point.is(asn1.ClassUniversal, asn1.TagBitString, false) || len(point.content) < 2 || point.content[0] != 0 {
		return nil, fmt.Errorf("%w: invalid originator public key", errMalformed)
	}
	ephemeral, err := private.Curve().NewPublicKey(point.content[1:])
	if err != nil {
		return nil, fmt.Errorf("cms: invalid originator public key: %w", err)
	}
	shared, err := private.ECDH(ephemeral)
	if err != nil {
		return nil, fmt.Errorf("cms: ECDH failed: %w", err)
	}

	scheme, wrapAlgorithm, err := parseAlgorithm(keyEncryption)
	if err != nil {
		return nil, err
	}
	newHash, err := kdfHash(scheme)
	if err != nil {
		return nil, err
	}
	if wrapAlgorithm == nil {
		return nil, fmt.Errorf("%w: key agreement without a key wrap algorithm", errMalformed)
	}
	wrap, _, err := parseAlgorithm(wrapAlgorithm)
	if err != nil {
		return nil, err
	}
	kekSize, err := wrapKeySize(wrap)
	if err != nil {
		return nil, err
	}

	kek := x963KDF(newHash, shared, eccSharedInfo(wrapAlgorithm.der(), ukm, kekSize), kekSize)
	cek, err := unwrapKey(kek, wrapped)
	if err != nil {
		return nil, errDecrypt
	}
	return cek, nil
}
