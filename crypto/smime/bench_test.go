package smime

import (
	"bytes"
	"encoding/base64"
	"io"
	"testing"
)

// writeBase64Attachment writes an entity with a base64 body of size octets
// of content, line by line, as compose streams an attachment.
func writeBase64Attachment(size int) BodyFunc {
	return func(w io.Writer) error {
		header := "Content-Type: application/octet-stream\r\n" +
			"Content-Transfer-Encoding: base64\r\n" +
			"Content-Disposition: attachment; filename=\"statement.pdf\"\r\n" +
			"\r\n"
		if _, err := io.WriteString(w, header); err != nil {
			return err
		}

		// 57 octets encode to one 76-character base64 line.
		raw := bytes.Repeat([]byte{0xa5, 0x5a, 0x3c}, 19)
		line := make([]byte, base64.StdEncoding.EncodedLen(len(raw))+2)
		base64.StdEncoding.Encode(line, raw)
		copy(line[len(line)-2:], "\r\n")
		for written := 0; written < size; written += len(raw) {
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		return nil
	}
}

func BenchmarkSign20MB(b *testing.B) {
	pki := newTestPKI(b)
	signer := pki.issue(b, kindP256, "alice@example.org")
	body := writeBase64Attachment(20 << 20)

	b.ReportAllocs()
	b.SetBytes(20 << 20)
	for b.Loop() {
		if err := Sign(io.Discard, signer, body, nil); err != nil {
			b.Fatal(err)
		}
	}
}
