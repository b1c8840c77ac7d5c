package cms

import "encoding/asn1"

// Object identifiers of the content types and algorithms this package writes
// or reads.
var (
	oidData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}         // RFC 5652 section 4
	oidEnvelopedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}         // RFC 5652 section 6
	oidAuthEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23} // RFC 5083 section 2

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1} // PKCS #1 v1.5 key transport
	oidRSAESOAEP     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7} // RFC 4055 section 4
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidPSpecified    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}

	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

	// Key agreement schemes of RFC 5753 section 7.1.4. On prime curves the
	// cofactor is 1, so the cofactor schemes compute the same shared secret.
	oidECDHStdSHA1KDF        = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 2}
	oidECDHStdSHA224KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 0}
	oidECDHStdSHA256KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1}
	oidECDHStdSHA384KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 2}
	oidECDHStdSHA512KDF      = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 3}
	oidECDHCofactorSHA1KDF   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 3}
	oidECDHCofactorSHA224KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 0}
	oidECDHCofactorSHA256KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 1}
	oidECDHCofactorSHA384KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 2}
	oidECDHCofactorSHA512KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 3}

	// AES key wrap, RFC 3565 section 2.3.2.
	oidAES128Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 5}
	oidAES192Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 25}
	oidAES256Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}

	// Content encryption, RFC 3565 section 4.1 and RFC 5084 section 3.2.
	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES192GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 26}
	oidAES256GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
)
