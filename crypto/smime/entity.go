package smime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// rawEntity is a MIME entity split into its header and the raw bytes of its
// body, which stay as they were received.
type rawEntity struct {
	header    textproto.Header
	mediaType string
	params    map[string]string
	body      []byte
}

// parseEntity reads the header of a message or entity. A missing
// Content-Type means text/plain (RFC 2045 section 5.2).
func parseEntity(data []byte) (*rawEntity, error) {
	source := bytes.NewReader(data)
	reader := bufio.NewReader(source)
	header, err := textproto.ReadHeader(reader)
	if err != nil {
		return nil, fmt.Errorf("failed to read the header: %w", err)
	}
	consumed := len(data) - source.Len() - reader.Buffered()

	entity := &rawEntity{header: header, mediaType: "text/plain", body: data[consumed:]}
	if value := header.Get("Content-Type"); value != "" {
		mediaType, params, err := mime.ParseMediaType(value)
		if err != nil {
			return nil, fmt.Errorf("failed to parse Content-Type %q: %w", value, err)
		}
		entity.mediaType = mediaType
		entity.params = params
	}
	return entity, nil
}

// decodedBody returns the body with its base64 transfer encoding undone; a
// CMS body in any other encoding is binary as it stands.
func (e *rawEntity) decodedBody() ([]byte, error) {
	encoding := strings.ToLower(strings.TrimSpace(e.header.Get("Content-Transfer-Encoding")))
	switch encoding {
	case "", "7bit", "8bit", "binary":
		return e.body, nil
	case "base64":
		decoded, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, whitespaceStripper{bytes.NewReader(e.body)}))
		if err != nil {
			return nil, fmt.Errorf("failed to decode the base64 body: %w", err)
		}
		return decoded, nil
	}
	return nil, fmt.Errorf("smime: Content-Transfer-Encoding %q is not valid for a CMS body; use base64", encoding)
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

// splitMultipart returns the raw bytes of each body part of a multipart
// body (RFC 2046 section 5.1.1), without re-serializing anything: a part
// ends before the line break that precedes the next delimiter, because that
// line break belongs to the delimiter. Line breaks may be CRLF or LF.
func splitMultipart(body []byte, boundary string) ([][]byte, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("smime: invalid multipart boundary %q", boundary)
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
	return nil, fmt.Errorf("smime: multipart body has no close delimiter for boundary %q", boundary)
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
