package keyring

import (
	"bytes"
	"errors"
)

// ErrX509Unsupported is wrapped by the error of Import when its input is an
// X.509 structure that the keyring does not store, such as a certificate
// revocation list or a certificate request.
var ErrX509Unsupported = errors.New("this kind of X.509 input is not supported; import certificates, certs-only PKCS#7 or PKCS#12 bundles")

// isX509BlockType reports whether a PEM block of type blockType holds an
// X.509 certificate, a PKCS#7 or PKCS#12 structure, or the private key that
// goes with a certificate (RFC 7468).
func isX509BlockType(blockType string) bool {
	switch blockType {
	case "CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE", "X509 CRL",
		"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "PKCS7", "CMS", "PKCS12",
		"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return true
	}
	return false
}

// isDER reports whether data looks like one DER or BER encoded ASN.1
// SEQUENCE that fills the whole input, as a DER certificate or a PKCS#12
// file does. OpenPGP packets cannot start with 0x30, because their first
// byte has the top bit set.
func isDER(data []byte) bool {
	if len(data) < 4 || data[0] != 0x30 {
		return false
	}

	// A certificate starts with the SEQUENCE of its TBSCertificate, PKCS#12
	// with the INTEGER of its version and PKCS#7 with an OBJECT IDENTIFIER.
	lengthByte := data[1]
	switch {
	case lengthByte < 0x80:
		return plausibleSequence(data, 2, int(lengthByte))
	case lengthByte == 0x80:
		// BER indefinite length, which some PKCS#12 writers use: the
		// content ends with two zero bytes.
		return isASN1Start(data[2]) && bytes.HasSuffix(data, []byte{0, 0})
	case lengthByte <= 0x84:
		size := int(lengthByte & 0x7f)
		if len(data) < 2+size {
			return false
		}
		length := 0
		for _, b := range data[2 : 2+size] {
			length = length<<8 | int(b)
		}
		return plausibleSequence(data, 2+size, length)
	default:
		return false
	}
}

// plausibleSequence reports whether a SEQUENCE whose content of length bytes
// starts at offset ends where data ends, give or take trailing white space,
// and starts with a certificate, PKCS#12 or PKCS#7 element.
func plausibleSequence(data []byte, offset, length int) bool {
	end := offset + length
	if length < 1 || end > len(data) {
		return false
	}
	return isASN1Start(data[offset]) && len(bytes.TrimSpace(data[end:])) == 0
}

// isASN1Start reports whether tag is the tag of a SEQUENCE, INTEGER or
// OBJECT IDENTIFIER.
func isASN1Start(tag byte) bool {
	return tag == 0x30 || tag == 0x02 || tag == 0x06
}
