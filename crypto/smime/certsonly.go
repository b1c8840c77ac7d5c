package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"
)

// certsOnlyFileName is the file name of a certs-only part. The extension
// .p7c is the one RFC 8551 section 3.2.1 gives, and Amazon SES rejects
// attachments named .cer, .crt or .der.
const certsOnlyFileName = "smime.p7c"

// CertsOnly returns a DER ContentInfo containing a certs-only SignedData
// (RFC 8551 section 3.8, RFC 5652 section 5): version 1, no digest
// algorithms, an encapContentInfo of type id-data without content, the
// certificates, and no signerInfos. The certificates are sorted as a DER
// SET OF requires and duplicates are dropped. A self-signed root is kept,
// because unlike Sign, CertsOnly leaves the choice of certificates to the
// caller.
func CertsOnly(certs []*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("smime: no certificates for a certs-only SignedData; pass the sender's certificate and its chain")
	}
	encoded := make([][]byte, 0, len(certs))
	for i, cert := range certs {
		if cert == nil {
			return nil, fmt.Errorf("smime: certificate %d of %d for a certs-only SignedData is nil; pass only parsed certificates", i+1, len(certs))
		}
		if len(cert.Raw) == 0 {
			return nil, fmt.Errorf("smime: certificate %d of %d (%q) has no DER encoding; pass certificates from x509.ParseCertificate", i+1, len(certs), cert.Subject.String())
		}
		encoded = append(encoded, cert.Raw)
	}
	slices.SortFunc(encoded, bytes.Compare)
	encoded = slices.CompactFunc(encoded, bytes.Equal)

	signed := signedData{
		Version:          1,
		DigestAlgorithms: []algorithmIdentifier{},
		EncapContentInfo: encapsulatedContentInfo{EContentType: oidData},
		Certificates:     asn1.RawValue{FullBytes: derTagged(0xa0, bytes.Join(encoded, nil))},
		SignerInfos:      []signerInfo{},
	}
	inner, err := asn1.Marshal(signed)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the certs-only SignedData: %w", err)
	}
	der, err := asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{FullBytes: explicitTag0(inner)}})
	if err != nil {
		return nil, fmt.Errorf("failed to encode the ContentInfo: %w", err)
	}
	return der, nil
}

// WriteCertsOnly writes certs to w as a certs-only body part named
// smime.p7c: its header fields, an empty line and the base64 of
// CertsOnly(certs). The part has CRLF line endings and no MIME-Version
// field, so a signed or encrypted message can contain it. With
// opts.LegacyTypes its type is application/x-pkcs7-mime, and opts may be nil.
func WriteCertsOnly(w io.Writer, certs []*x509.Certificate, opts *Options) error {
	der, err := CertsOnly(certs)
	if err != nil {
		return err
	}

	header := "Content-Type: " + opts.mediaType("mime") + "; smime-type=certs-only; name=\"" + certsOnlyFileName + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + certsOnlyFileName + "\"\r\n" +
		"\r\n"
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("failed to write the certs-only header: %w", err)
	}
	if err := writeBase64Lines(w, der); err != nil {
		return fmt.Errorf("failed to write the certs-only body: %w", err)
	}
	return nil
}
