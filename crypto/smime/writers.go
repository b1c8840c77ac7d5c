package smime

import (
	"encoding/base64"
	"io"
)

// base64LineLength is the line length of base64 bodies (RFC 2045 section
// 6.8 allows at most 76 characters).
const base64LineLength = 76

// writeBase64Lines writes data as base64 in lines of base64LineLength
// characters, each ending in CRLF.
func writeBase64Lines(w io.Writer, data []byte) error {
	const chunk = base64LineLength / 4 * 3 // 57 octets encode to one line
	line := make([]byte, base64LineLength+2)
	for len(data) > 0 {
		n := min(chunk, len(data))
		encoded := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line, data[:n])
		line[encoded] = '\r'
		line[encoded+1] = '\n'
		if _, err := w.Write(line[:encoded+2]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
