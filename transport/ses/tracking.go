package ses

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// maxMIMEDepth is the maximum depth of nested multiparts protectedEntity
// reads. A message nested deeper counts as protected.
const maxMIMEDepth = 8

// trackingOff is the SendEmail override that turns open and click tracking
// off for one message, whatever the configuration set, VDM or the
// account settings are. SES then neither adds a tracking image nor
// rewrites links.
func trackingOff() *types.ConfigurationOverrides {
	return &types.ConfigurationOverrides{
		Tracking: &types.TrackingConfigurationOverrides{
			OpenTrackingEnabled:  types.FeatureStatusDisabled,
			ClickTrackingEnabled: types.FeatureStatusDisabled,
		},
	}
}

// isProtected reports whether raw contains a signed or encrypted entity
// (RFC 1847 multipart/signed or multipart/encrypted, or S/MIME
// application/pkcs7-mime) outside any ciphertext. Open and click tracking
// rewrite the HTML parts of a message, which breaks a clear signature. In
// ciphertext there is nothing to track. A message that cannot be parsed
// counts as protected, so that tracking stays off when in doubt.
func isProtected(raw []byte) bool {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	header, err := r.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return true
	}
	protected, err := protectedEntity(header, r.R, 0)
	return protected || err != nil
}

// protectedEntity reports whether the entity with header and body, or any
// part inside it, is signed or encrypted.
func protectedEntity(header textproto.MIMEHeader, body io.Reader, depth int) (bool, error) {
	value := header.Get("Content-Type")
	if value == "" {
		return false, nil
	}
	mediaType, params, err := mime.ParseMediaType(value)
	if err != nil {
		return false, err
	}

	switch mediaType {
	case "multipart/signed", "multipart/encrypted", "application/pkcs7-mime", "application/x-pkcs7-mime":
		return true, nil
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return false, nil
	}
	if depth >= maxMIMEDepth || params["boundary"] == "" {
		return false, errors.New("multipart entity nested too deep or without a boundary")
	}

	parts := multipart.NewReader(body, params["boundary"])
	for {
		part, err := parts.NextRawPart()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		protected, err := protectedEntity(part.Header, part, depth+1)
		if protected || err != nil {
			return protected, err
		}
	}
}
