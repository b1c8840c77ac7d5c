// Package rawmime reads and checks MIME entities as raw bytes, for the
// packages that sign and verify them (crypto/pgpmime, crypto/smime): a
// signature covers the exact bytes of a part, so nothing here re-serializes
// or re-encodes what it reads.
//
// It follows RFC 2045 and RFC 2046 section 5.1.1 for the entity header and
// multipart bodies. Line breaks may be CRLF or LF when reading; the checker
// for writing requires CRLF.
package rawmime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Entity is a MIME entity split into its header and the raw bytes of its
// body, which stay as they were received.
type Entity struct {
	Header    textproto.Header
	MediaType string // lowercase, from Content-Type
	Params    map[string]string
	Body      []byte
}

// ParseEntity reads the header of a message or entity. A missing
// Content-Type means text/plain (RFC 2045 section 5.2).
func ParseEntity(data []byte) (*Entity, error) {
	source := bytes.NewReader(data)
	reader := bufio.NewReader(source)
	header, err := textproto.ReadHeader(reader)
	if err != nil {
		return nil, fmt.Errorf("failed to read the header: %w", err)
	}
	consumed := len(data) - source.Len() - reader.Buffered()

	entity := &Entity{Header: header, MediaType: "text/plain", Body: data[consumed:]}
	if value := header.Get("Content-Type"); value != "" {
		mediaType, params, err := mime.ParseMediaType(value)
		if err != nil {
			return nil, fmt.Errorf("failed to parse Content-Type %q: %w", value, err)
		}
		entity.MediaType = mediaType
		entity.Params = params
	}
	return entity, nil
}

// TransferEncoding returns the Content-Transfer-Encoding in lowercase.
func (e *Entity) TransferEncoding() string {
	return strings.ToLower(strings.TrimSpace(e.Header.Get("Content-Transfer-Encoding")))
}

// DecodedBody returns the body with its Content-Transfer-Encoding undone.
func (e *Entity) DecodedBody() ([]byte, error) {
	return DecodeBody(e.TransferEncoding(), e.Body)
}

// DecodeBody returns body with the lowercase Content-Transfer-Encoding
// encoding undone. The identity encodings return body itself.
func DecodeBody(encoding string, body []byte) ([]byte, error) {
	switch encoding {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		decoded, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, whitespaceStripper{bytes.NewReader(body)}))
		if err != nil {
			return nil, fmt.Errorf("failed to decode the base64 body: %w", err)
		}
		return decoded, nil
	case "quoted-printable":
		decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, fmt.Errorf("failed to decode the quoted-printable body: %w", err)
		}
		return decoded, nil
	default:
		return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", encoding)
	}
}

// whitespaceStripper drops CR, LF, space and tab, which may sit between
// base64 lines but which base64.NewDecoder skips only in part.
type whitespaceStripper struct {
	r io.Reader
}

func (s whitespaceStripper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	kept := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			p[kept] = b
			kept++
		}
	}
	return kept, err
}

// SplitMultipart returns the raw bytes of each body part of a multipart
// body (RFC 2046 section 5.1.1), without re-serializing anything. A part
// ends before the line break that precedes the next delimiter, because that
// line break belongs to the delimiter.
func SplitMultipart(body []byte, boundary string) ([][]byte, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("invalid multipart boundary %q", boundary)
	}
	delimiter := []byte("--" + boundary)

	var parts [][]byte
	partStart := -1
	for lineStart := 0; lineStart < len(body); {
		lineEnd := len(body)
		next := len(body)
		if i := bytes.IndexByte(body[lineStart:], '\n'); i >= 0 {
			lineEnd = lineStart + i
			next = lineEnd + 1
		}
		line := bytes.TrimSuffix(body[lineStart:lineEnd], []byte("\r"))

		closing, isDelimiter := delimiterLine(line, delimiter)
		if isDelimiter {
			if partStart >= 0 {
				parts = append(parts, body[partStart:max(partStart, lineBreakStart(body, lineStart))])
			}
			if closing {
				return parts, nil
			}
			partStart = next
		}
		lineStart = next
	}
	return nil, fmt.Errorf("multipart body has no close delimiter for boundary %q", boundary)
}

// delimiterLine reports whether line is a delimiter line ("--boundary"
// followed by optional white space) or a close delimiter line
// ("--boundary--").
func delimiterLine(line, delimiter []byte) (closing, ok bool) {
	rest, found := bytes.CutPrefix(line, delimiter)
	if !found {
		return false, false
	}
	if after, found := bytes.CutPrefix(rest, []byte("--")); found {
		return true, len(bytes.Trim(after, " \t")) == 0
	}
	return false, len(bytes.Trim(rest, " \t")) == 0
}

// lineBreakStart returns where the line break before lineStart begins.
func lineBreakStart(body []byte, lineStart int) int {
	if lineStart == 0 {
		return 0
	}
	end := lineStart - 1
	if end > 0 && body[end-1] == '\r' {
		end--
	}
	return end
}
