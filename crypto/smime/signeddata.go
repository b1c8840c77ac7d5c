package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"
)

// Object identifiers of RFC 5652 (CMS), RFC 5754 (SHA-2 in CMS), RFC 8551
// (S/MIME attributes), RFC 3565 and RFC 5084 (AES), RFC 4055 (OAEP) and
// RFC 5753 (ECDH).
var (
	oidData                    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidAuthEnvelopedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	oidAttributeContentType    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttributeMessageDigest  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttributeSigningTime    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttributeCapabilities   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}
	oidAttributeEncryptionPref = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 11}

	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAESOAEP       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidAES128CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES256CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128GCM       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES256GCM       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	oidAES128Wrap      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 5}
	oidAES256Wrap      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}
	oidECDHSHA256KDF   = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1} // dhSinglePass-stdDH-sha256kdf-scheme
)

// algorithmIdentifier is AlgorithmIdentifier (RFC 5280 section 4.1.1.2)
// with parameters kept as encoded.
type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

var asn1Null = asn1.RawValue{Tag: asn1.TagNull}

// signatureScheme is the digest and signature algorithm for one key.
type signatureScheme struct {
	hash               crypto.Hash
	digestAlgorithm    algorithmIdentifier
	signatureAlgorithm algorithmIdentifier
	micalg             string // RFC 8551 section 3.5.3.2
}

// schemeFor picks the algorithms for a signing key: SHA-256 with PKCS #1
// v1.5 for RSA, and ECDSA with the hash that matches the curve size, as
// RFC 5753 section 7.1.1 pairs them.
func schemeFor(public crypto.PublicKey) (signatureScheme, error) {
	switch key := public.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < 2048 {
			return signatureScheme{}, fmt.Errorf("smime: RSA key of %d bits is too short to sign with; use 2048 bits or more", key.N.BitLen())
		}
		return signatureScheme{
			hash:               crypto.SHA256,
			digestAlgorithm:    algorithmIdentifier{Algorithm: oidSHA256},
			signatureAlgorithm: algorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1Null},
			micalg:             "sha-256",
		}, nil
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			return ecdsaScheme(crypto.SHA256, oidSHA256, oidECDSAWithSHA256, "sha-256"), nil
		case elliptic.P384():
			return ecdsaScheme(crypto.SHA384, oidSHA384, oidECDSAWithSHA384, "sha-384"), nil
		case elliptic.P521():
			return ecdsaScheme(crypto.SHA512, oidSHA512, oidECDSAWithSHA512, "sha-512"), nil
		}
		return signatureScheme{}, fmt.Errorf("smime: ECDSA curve %q is not supported; use P-256, P-384 or P-521", key.Curve.Params().Name)
	}
	return signatureScheme{}, fmt.Errorf("smime: signing key type %T is not supported; use an RSA or ECDSA key", public)
}

func ecdsaScheme(hash crypto.Hash, digest, signature asn1.ObjectIdentifier, micalg string) signatureScheme {
	return signatureScheme{
		hash:               hash,
		digestAlgorithm:    algorithmIdentifier{Algorithm: digest},
		signatureAlgorithm: algorithmIdentifier{Algorithm: signature},
		micalg:             micalg,
	}
}

// issuerAndSerialNumber identifies a certificate (RFC 5652 section 10.2.4).
type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

func issuerAndSerialOf(cert *x509.Certificate) issuerAndSerialNumber {
	return issuerAndSerialNumber{
		Issuer:       asn1.RawValue{FullBytes: cert.RawIssuer},
		SerialNumber: cert.SerialNumber,
	}
}

// attribute is Attribute (RFC 5652 section 5.3) with one value.
type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue
}

// signerInfo is SignerInfo (RFC 5652 section 5.3), version 1 with an
// issuerAndSerialNumber.
type signerInfo struct {
	Version            int
	SID                issuerAndSerialNumber
	DigestAlgorithm    algorithmIdentifier
	SignedAttributes   asn1.RawValue
	SignatureAlgorithm algorithmIdentifier
	Signature          []byte
}

// encapsulatedContentInfo holds the signed content, or only its type when
// the signature is detached.
type encapsulatedContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"optional"` // [0] EXPLICIT OCTET STRING, encoded
}

type signedData struct {
	Version          int
	DigestAlgorithms []algorithmIdentifier `asn1:"set"`
	EncapContentInfo encapsulatedContentInfo
	Certificates     asn1.RawValue
	SignerInfos      []signerInfo `asn1:"set"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, encoded
}

// signedDataParams are the inputs of one SignedData.
type signedDataParams struct {
	signer  *Signer
	scheme  signatureScheme
	digest  []byte // of the content, with scheme.hash
	content []byte // the encapsulated content; nil for a detached signature
	now     time.Time
	rand    io.Reader
}

// buildSignedData returns a DER ContentInfo holding SignedData with one
// SignerInfo whose signed attributes are contentType, signingTime,
// messageDigest, SMIMECapabilities and, when the signer has a separate
// encryption certificate, SMIMEEncryptionKeyPreference.
func buildSignedData(p signedDataParams) ([]byte, error) {
	attributes, err := signedAttributes(p)
	if err != nil {
		return nil, err
	}

	// The signature covers the DER SET OF the attributes (RFC 5652 section
	// 5.4), and the SignerInfo carries the same bytes under an implicit [0].
	signedSet := append([]byte{0x31}, attributes[1:]...)
	signedDigest := p.scheme.hash.New()
	signedDigest.Write(signedSet)
	signature, err := p.signer.Key.Sign(p.rand, signedDigest.Sum(nil), p.scheme.hash)
	if err != nil {
		return nil, fmt.Errorf("failed to sign with the key of certificate %q: %w", p.signer.Certificate.Subject.String(), err)
	}

	certificates, err := certificateSet(p.signer)
	if err != nil {
		return nil, err
	}
	encapsulated := encapsulatedContentInfo{EContentType: oidData}
	if p.content != nil {
		octets, err := asn1.Marshal(p.content)
		if err != nil {
			return nil, fmt.Errorf("failed to encode the signed content: %w", err)
		}
		encapsulated.EContent = asn1.RawValue{FullBytes: explicitTag0(octets)}
	}

	signed := signedData{
		Version:          1,
		DigestAlgorithms: []algorithmIdentifier{p.scheme.digestAlgorithm},
		EncapContentInfo: encapsulated,
		Certificates:     asn1.RawValue{FullBytes: certificates},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                issuerAndSerialOf(p.signer.Certificate),
			DigestAlgorithm:    p.scheme.digestAlgorithm,
			SignedAttributes:   asn1.RawValue{FullBytes: attributes},
			SignatureAlgorithm: p.scheme.signatureAlgorithm,
			Signature:          signature,
		}},
	}
	inner, err := asn1.Marshal(signed)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the SignedData: %w", err)
	}
	der, err := asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{FullBytes: explicitTag0(inner)}})
	if err != nil {
		return nil, fmt.Errorf("failed to encode the ContentInfo: %w", err)
	}
	return der, nil
}

// signedAttributes returns the signed attributes as [0] IMPLICIT SET OF
// Attribute in DER, sorted by their encodings as DER requires.
func signedAttributes(p signedDataParams) ([]byte, error) {
	signingTime, err := encodeTime(p.now)
	if err != nil {
		return nil, err
	}
	digest, err := asn1.Marshal(p.digest)
	if err != nil {
		return nil, err
	}
	contentType, err := asn1.Marshal(oidData)
	if err != nil {
		return nil, err
	}
	capabilities, err := smimeCapabilities()
	if err != nil {
		return nil, err
	}
	values := []struct {
		oid   asn1.ObjectIdentifier
		value []byte
	}{
		{oidAttributeContentType, contentType},
		{oidAttributeSigningTime, signingTime},
		{oidAttributeMessageDigest, digest},
		{oidAttributeCapabilities, capabilities},
	}

	// RFC 8551 section 2.5.3: name the encryption certificate when it is not
	// the signing certificate.
	encryption := p.signer.EncryptionCertificate
	if encryption != nil && !encryption.Equal(p.signer.Certificate) {
		sid, err := asn1.Marshal(issuerAndSerialOf(encryption))
		if err != nil {
			return nil, fmt.Errorf("failed to encode the encryption certificate identifier: %w", err)
		}
		sid[0] = 0xa0 // issuerAndSerialNumber [0] IMPLICIT
		values = append(values, struct {
			oid   asn1.ObjectIdentifier
			value []byte
		}{oidAttributeEncryptionPref, sid})
	}

	encoded := make([][]byte, 0, len(values))
	for _, v := range values {
		a, err := asn1.Marshal(attribute{Type: v.oid, Values: asn1.RawValue{FullBytes: derSet(v.value)}})
		if err != nil {
			return nil, fmt.Errorf("failed to encode signed attribute %s: %w", v.oid, err)
		}
		encoded = append(encoded, a)
	}
	slices.SortFunc(encoded, bytes.Compare)
	return derTagged(0xa0, bytes.Join(encoded, nil)), nil
}

// encodeTime encodes the signing time as UTCTime for the years 1950 to
// 2049 and GeneralizedTime otherwise (RFC 5652 section 11.3).
func encodeTime(now time.Time) ([]byte, error) {
	now = now.UTC().Truncate(time.Second)
	if now.Year() >= 1950 && now.Year() < 2050 {
		return asn1.Marshal(now)
	}
	return asn1.MarshalWithParams(now, "generalized")
}

// smimeCapabilities returns SMIMECapabilities (RFC 8551 section 2.5.2)
// listing, in order of preference, what sealmail decrypts: the AES content
// ciphers, RSA key transport with PKCS #1 v1.5 and OAEP with SHA-256, and
// ECDH with the SHA-256 KDF and AES key wrap.
func smimeCapabilities() ([]byte, error) {
	sha256Identifier, err := asn1.Marshal(algorithmIdentifier{Algorithm: oidSHA256})
	if err != nil {
		return nil, err
	}
	mgf1, err := asn1.Marshal(struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue
	}{oidMGF1, asn1.RawValue{FullBytes: sha256Identifier}})
	if err != nil {
		return nil, err
	}
	// RSAES-OAEP-params (RFC 4055 section 4.1): hashFunc [0] and
	// maskGenFunc [1] set to SHA-256, pSourceFunc left at its default.
	oaepParams := derTagged(0x30, append(derTagged(0xa0, sha256Identifier), derTagged(0xa1, mgf1)...))
	aes256Wrap, err := asn1.Marshal(algorithmIdentifier{Algorithm: oidAES256Wrap})
	if err != nil {
		return nil, err
	}
	aes128Wrap, err := asn1.Marshal(algorithmIdentifier{Algorithm: oidAES128Wrap})
	if err != nil {
		return nil, err
	}

	capabilities := []algorithmIdentifier{
		{Algorithm: oidAES256GCM},
		{Algorithm: oidAES128GCM},
		{Algorithm: oidAES256CBC},
		{Algorithm: oidAES128CBC},
		{Algorithm: oidECDHSHA256KDF, Parameters: asn1.RawValue{FullBytes: aes256Wrap}},
		{Algorithm: oidECDHSHA256KDF, Parameters: asn1.RawValue{FullBytes: aes128Wrap}},
		{Algorithm: oidRSAESOAEP, Parameters: asn1.RawValue{FullBytes: oaepParams}},
		{Algorithm: oidRSAEncryption},
	}
	return asn1.Marshal(capabilities)
}

// certificateSet returns [0] IMPLICIT SET OF Certificate with the signing
// certificate and its chain. A self-signed certificate in the chain is a
// root, which the receiver must already trust, so it is left out (RFC 8551
// section 2.4.2 lets the sender choose).
func certificateSet(signer *Signer) ([]byte, error) {
	encoded := [][]byte{signer.Certificate.Raw}
	for i, cert := range signer.Chain {
		if cert == nil {
			return nil, fmt.Errorf("smime: certificate %d of the signer's chain is nil", i)
		}
		if isSelfSigned(cert) || cert.Equal(signer.Certificate) {
			continue
		}
		if !slices.ContainsFunc(encoded, func(e []byte) bool { return bytes.Equal(e, cert.Raw) }) {
			encoded = append(encoded, cert.Raw)
		}
	}
	slices.SortFunc(encoded, bytes.Compare)
	return derTagged(0xa0, bytes.Join(encoded, nil)), nil
}

func isSelfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil
}

// derSet wraps encoded values in a SET.
func derSet(content []byte) []byte {
	return derTagged(0x31, content)
}

// explicitTag0 wraps encoded values in a context-specific constructed [0].
func explicitTag0(content []byte) []byte {
	return derTagged(0xa0, content)
}

// derTagged returns the DER encoding of content under tag, which must be a
// single identifier octet.
func derTagged(tag byte, content []byte) []byte {
	out := []byte{tag}
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var length []byte
		for ; n > 0; n >>= 8 {
			length = append([]byte{byte(n)}, length...)
		}
		out = append(out, 0x80|byte(len(length)))
		out = append(out, length...)
	}
	return append(out, content...)
}
