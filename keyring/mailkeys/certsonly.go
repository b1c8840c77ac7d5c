package mailkeys

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// CertsOnly is one S/MIME certs-only part found in a message: a SignedData
// without signers that carries certificates (RFC 8551 section 3.8).
type CertsOnly struct {
	// Data is the decoded body of the part: DER or BER as RFC 8551
	// specifies, or PEM as some tools write it. The keyring parses it.
	Data []byte
	// Location names the part for messages, such as
	// `part 2 (application/pkcs7-mime, "smime.p7c")`.
	Location string
}

// isPKCS7MIME reports whether mediaType is application/pkcs7-mime or the
// older application/x-pkcs7-mime.
func isPKCS7MIME(mediaType string) bool {
	return mediaType == "application/pkcs7-mime" || mediaType == "application/x-pkcs7-mime"
}

// isCertsOnly reports whether entity is a certs-only part. That is an
// application/pkcs7-mime or application/x-pkcs7-mime entity with
// smime-type=certs-only (RFC 8551 section 3.2.2), or a leaf part whose
// file name ends in ".p7c", the extension RFC 8551 section 3.2.1 gives
// certs-only parts. The name counts for agents that omit smime-type or
// send application/octet-stream, but not against an smime-type such as
// enveloped-data.
func isCertsOnly(entity *rawmime.Entity) bool {
	if isPKCS7MIME(entity.MediaType) {
		if smimeType := entity.Params["smime-type"]; smimeType != "" {
			return strings.EqualFold(smimeType, "certs-only")
		}
	}
	if strings.HasPrefix(entity.MediaType, "multipart/") || strings.HasPrefix(entity.MediaType, "message/") {
		return false
	}
	return strings.HasSuffix(strings.ToLower(fileName(entity)), ".p7c")
}

// addCertsOnly decodes the certs-only entity and adds it.
func (w *walker) addCertsOnly(entity *rawmime.Entity, number string) error {
	location := partLocation(entity, number)
	data, err := entity.DecodedBody()
	if err != nil {
		return fmt.Errorf("failed to decode %s: %w", location, err)
	}
	if err := checkCertsOnlyPart(data); err != nil {
		return fmt.Errorf("%s is not an S/MIME certs-only part: %w", location, err)
	}
	w.certsOnly = append(w.certsOnly, CertsOnly{Data: data, Location: location})
	return nil
}

// checkCertsOnlyPart checks that data starts like a DER or BER SEQUENCE, as
// a ContentInfo does, or contains a PEM block. The keyring parses the rest.
func checkCertsOnlyPart(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("the part is empty")
	}
	if data[0] == 0x30 || bytes.Contains(data, []byte("-----BEGIN ")) {
		return nil
	}
	return errors.New("the part is neither DER nor PEM")
}
