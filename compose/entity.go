package compose

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// maxEntityDepth limits how deeply multiparts and message/rfc822 parts may
// nest in a given entity, so that a hostile message cannot exhaust the stack.
const maxEntityDepth = 32

// prepareEntity returns the given MIME entity as it is protected: with CRLF
// line endings, and with every part that breaks the rules of a protected
// entity re-encoded, text/* as quoted-printable and other leaves as base64.
// The rules are 7-bit and lines of at most 998 octets (RFC 5322 section
// 2.1.1). A signed entity must also have no trailing white space and no
// line that starts with "From " (RFC 3156 sections 3 and 5, RFC 8551
// section 3.1). A part that meets the rules keeps its bytes. A signed
// entity also gets every 8bit and binary leaf re-encoded, whatever its
// content, because a relay that downgrades 8-bit mail goes by that label.
// The top-level header may hold only Content-* fields, and a missing
// Content-Type is added.
func prepareEntity(raw []byte, signed bool) ([]byte, error) {
	p := entityPreparer{signed: signed}
	out, _, err := p.walk(raw, 1, 0, "text/plain")
	if err != nil {
		return nil, err
	}
	// Every branch above checks what it keeps, so this is the last guard
	// that pgpmime and smime would otherwise apply while writing.
	if err := checkEntity(out, rawmime.CheckOptions{Signed: signed, NoMIMEVersion: true}); err != nil {
		return nil, fmt.Errorf("the entity cannot be protected as it is: %w", err)
	}
	return out, nil
}

// entityPreparer walks the parts of an entity for prepareEntity.
type entityPreparer struct {
	signed bool
}

// entityPart is one entity or body part being prepared: its header fields, body
// and media type, and the line numbers of its start and its body in the
// given entity, for errors.
type entityPart struct {
	raw       []byte
	fields    []rawField
	body      []byte
	line      int
	bodyLine  int
	mediaType string
	params    map[string]string
	// encoding is the Content-Transfer-Encoding in lowercase. Empty means
	// 7bit.
	encoding string
	// typeMissing is true when the part has no Content-Type field.
	typeMissing bool
}

// walk prepares the part raw, which starts at line firstLine of the entity.
// defaultType is its media type when it has no Content-Type field. changed
// reports whether out differs from raw with CRLF line endings.
func (p *entityPreparer) walk(raw []byte, firstLine, depth int, defaultType string) (out []byte, changed bool, err error) {
	if depth > maxEntityDepth {
		return nil, false, fmt.Errorf("the part at line %d is nested more than %d levels deep", firstLine, maxEntityDepth)
	}
	pt, err := parsePart(raw, firstLine, depth, defaultType)
	if err != nil {
		return nil, false, err
	}

	switch {
	case pt.mediaType == "multipart/signed" || pt.mediaType == "multipart/encrypted":
		// Re-encoding inside would break the signature or the encryption
		// these parts carry, so they must be fit to keep as they are.
		return p.keepOpaque(pt)
	case strings.HasPrefix(pt.mediaType, "multipart/"):
		return p.walkMultipart(pt, depth)
	case pt.mediaType == "message/rfc822":
		return p.walkMessage(pt, depth)
	case strings.HasPrefix(pt.mediaType, "message/"):
		// RFC 2046 section 5.2 allows only 7bit, 8bit or binary for these,
		// and message/partial and message/external-body only 7bit.
		return p.keepOpaque(pt)
	}
	return p.walkLeaf(pt, depth)
}

// parsePart splits raw into header and body, reads the media type and the
// transfer encoding, and checks the header lines, which are never
// re-encoded.
func parsePart(raw []byte, firstLine, depth int, defaultType string) (*entityPart, error) {
	fields, body, err := splitHeader(raw, firstLine)
	if err != nil {
		return nil, err
	}
	pt := &entityPart{
		raw:      raw,
		fields:   fields,
		body:     body,
		line:     firstLine,
		bodyLine: firstLine + bytes.Count(raw[:len(raw)-len(body)], []byte("\n")),
	}

	for _, f := range fields {
		if depth == 0 && !strings.HasPrefix(strings.ToLower(f.name), "content-") {
			return nil, fmt.Errorf("header field %q (line %d) is not a Content-* field, and only those belong in the entity's header", f.name, f.line)
		}
		for j, line := range f.lines {
			if !isASCII(string(line)) {
				return nil, fmt.Errorf("header field %q (line %d) is not ASCII; encode its text as RFC 2047 encoded words or its parameters as RFC 2231", f.name, f.line+j)
			}
			if len(line) > maxLine {
				return nil, fmt.Errorf("header field %q (line %d) has a line of %d octets, more than the %d that RFC 5322 allows", f.name, f.line+j, len(line), maxLine)
			}
		}
		switch strings.ToLower(f.name) {
		case "content-type":
			if pt.mediaType != "" {
				return nil, fmt.Errorf("header field %q (line %d) occurs twice in one part", f.name, f.line)
			}
			mediaType, params, err := mime.ParseMediaType(f.value)
			if err != nil {
				return nil, fmt.Errorf("invalid Content-Type %q (line %d): %w", f.value, f.line, err)
			}
			pt.mediaType, pt.params = mediaType, params
		case "content-transfer-encoding":
			pt.encoding = strings.ToLower(f.value)
		}
	}
	if pt.mediaType == "" {
		pt.mediaType, pt.params, pt.typeMissing = defaultType, map[string]string{}, true
	}
	if pt.encoding == "7bit" {
		pt.encoding = ""
	}
	return pt, nil
}

// keepOpaque returns a part that cannot be re-encoded, after checking that
// it meets the rules as it is.
func (p *entityPreparer) keepOpaque(pt *entityPart) ([]byte, bool, error) {
	candidate := crlfLineEndings(pt.raw)
	if err := checkEntity(candidate, rawmime.CheckOptions{Signed: p.signed}); err != nil {
		return nil, false, fmt.Errorf("the %s part at line %d cannot be sent as it is, and re-encoding it would change what it protects or refers to: %w", pt.mediaType, pt.line, err)
	}
	return candidate, false, nil
}

// walkLeaf keeps a leaf that meets the rules and re-encodes any other.
func (p *entityPreparer) walkLeaf(pt *entityPart, depth int) ([]byte, bool, error) {
	reencode := pt.encoding == "binary" || (p.signed && pt.encoding == "8bit")
	var candidate []byte
	if !reencode {
		candidate = crlfLineEndings(pt.raw)
		reencode = checkEntity(candidate, rawmime.CheckOptions{Signed: p.signed}) != nil
	}
	if reencode {
		out, err := p.reencodeLeaf(pt)
		return out, true, err
	}

	// A signed part without header fields fails to verify in GMime-based
	// readers (notmuch), and RFC 2045 section 5.2's default needs saying
	// only once, so the top level always gets its Content-Type.
	if depth == 0 && pt.typeMissing {
		return append([]byte("Content-Type: text/plain; charset=us-ascii\r\n"), candidate...), true, nil
	}
	return candidate, false, nil
}

// reencodeLeaf writes the leaf with its content decoded and encoded again:
// text/* as quoted-printable and anything else as base64.
func (p *entityPreparer) reencodeLeaf(pt *entityPart) ([]byte, error) {
	content, err := decodeContent(pt)
	if err != nil {
		return nil, err
	}
	isText := strings.HasPrefix(pt.mediaType, "text/")

	var contentType string
	switch {
	case pt.typeMissing:
		charset, err := textCharset(content, pt)
		if err != nil {
			return nil, err
		}
		contentType = mime.FormatMediaType(pt.mediaType, map[string]string{"charset": charset})
	case isText && pt.params["charset"] == "" && !isASCII(string(content)):
		// The default charset, US-ASCII, cannot be right for 8-bit text.
		charset, err := textCharset(content, pt)
		if err != nil {
			return nil, err
		}
		params := map[string]string{"charset": charset}
		for k, v := range pt.params {
			params[k] = v
		}
		contentType = mime.FormatMediaType(pt.mediaType, params)
	}

	var out bytes.Buffer
	if contentType != "" && pt.typeMissing {
		if err := writeField(&out, "Content-Type", contentType); err != nil {
			return nil, err
		}
	}
	for _, f := range pt.fields {
		switch strings.ToLower(f.name) {
		case "content-transfer-encoding":
			continue
		case "content-type":
			if contentType != "" {
				if err := writeField(&out, f.name, contentType); err != nil {
					return nil, err
				}
				continue
			}
		}
		writeFieldLines(&out, f)
	}

	if isText {
		out.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
		var encoded bytes.Buffer
		if err := writeQuotedPrintable(&encoded, content); err != nil {
			return nil, err
		}
		// writeQuotedPrintable ends every text with a line break. Text that
		// ends without one keeps it so, because the line break before the
		// next delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
		if len(content) > 0 && content[len(content)-1] != '\n' && content[len(content)-1] != '\r' {
			encoded.Truncate(encoded.Len() - 2)
		}
		out.Write(encoded.Bytes())
		return out.Bytes(), nil
	}

	out.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	encoded := base64.StdEncoding.EncodeToString(content)
	for len(encoded) > base64LineLen {
		out.WriteString(encoded[:base64LineLen])
		out.WriteString("\r\n")
		encoded = encoded[base64LineLen:]
	}
	out.WriteString(encoded)
	return out.Bytes(), nil
}

// textCharset returns the charset for text that has no charset parameter:
// US-ASCII when it is 7-bit, and UTF-8 when it is valid UTF-8. Other 8-bit
// text is an error, because its charset is unknown.
func textCharset(content []byte, pt *entityPart) (string, error) {
	switch {
	case isASCII(string(content)):
		return "us-ascii", nil
	case utf8.Valid(content):
		return "utf-8", nil
	}
	return "", fmt.Errorf("the text of the part at line %d has 8-bit bytes that are not UTF-8 (the byte at offset %d is 0x%02X), and no charset parameter names their charset; add a Content-Type field with one", pt.line, invalidUTF8(content), content[invalidUTF8(content)])
}

// decodeContent returns the content of a leaf with its transfer encoding
// undone. 7bit and 8bit content is lines of text (RFC 2045 section 2.7 and
// 2.8), so its line breaks become CRLF; binary content stays as it is.
func decodeContent(pt *entityPart) ([]byte, error) {
	body := pt.body
	switch pt.encoding {
	case "", "8bit", "quoted-printable":
		// Text decodes to CRLF line breaks whatever the input used.
		body = crlfLineEndings(body)
	case "binary", "base64":
	default:
		return nil, fmt.Errorf("the part at line %d has Content-Transfer-Encoding %q, which sealmail cannot decode to re-encode its lines; use 7bit, 8bit, binary, quoted-printable or base64", pt.line, pt.encoding)
	}
	content, err := rawmime.DecodeBody(pt.encoding, body)
	if err != nil {
		return nil, fmt.Errorf("invalid %s body of the part at line %d: %w", pt.encoding, pt.bodyLine, err)
	}
	return content, nil
}

// walkMultipart prepares each body part of a multipart. When every body
// part is kept, the multipart keeps its bytes too, preamble and epilogue
// included. Otherwise it is written anew from the prepared parts without
// them, because RFC 2046 section 5.1.1 requires readers to ignore them.
func (p *entityPreparer) walkMultipart(pt *entityPart, depth int) ([]byte, bool, error) {
	boundary := pt.params["boundary"]
	if boundary == "" {
		return nil, false, fmt.Errorf("the %s part at line %d has no boundary parameter", pt.mediaType, pt.line)
	}
	if pt.encoding == "base64" || pt.encoding == "quoted-printable" {
		return nil, false, fmt.Errorf("the %s part at line %d has Content-Transfer-Encoding %s, but RFC 2045 section 6.4 allows only 7bit, 8bit or binary for a multipart", pt.mediaType, pt.line, pt.encoding)
	}
	bodies, err := rawmime.SplitMultipart(pt.body, boundary)
	if err != nil {
		return nil, false, fmt.Errorf("invalid %s part at line %d: %w", pt.mediaType, pt.line, err)
	}

	childType := "text/plain"
	if pt.mediaType == "multipart/digest" {
		childType = "message/rfc822" // RFC 2046 section 5.1.5
	}
	outs := make([][]byte, len(bodies))
	changed := false
	for i, body := range bodies {
		offset := cap(pt.body) - cap(body)
		line := pt.bodyLine + bytes.Count(pt.body[:offset], []byte("\n"))
		var bodyChanged bool
		if outs[i], bodyChanged, err = p.walk(body, line, depth+1, childType); err != nil {
			return nil, false, err
		}
		changed = changed || bodyChanged
	}

	kept, relabel := p.keepComposite(pt, changed)
	if kept != nil {
		return kept, false, nil
	}

	var out bytes.Buffer
	writeCompositeHeader(&out, pt, relabel)
	for i, body := range outs {
		if i > 0 {
			out.WriteString("\r\n")
		}
		out.WriteString("--" + boundary + "\r\n")
		out.Write(body)
	}
	out.WriteString("\r\n--" + boundary + "--\r\n")

	// Re-encoding could in theory wrap a line so that it reads as the
	// boundary, which would split a part in two.
	if again, err := rawmime.SplitMultipart(out.Bytes()[bytes.Index(out.Bytes(), []byte("\r\n\r\n"))+4:], boundary); err != nil || len(again) != len(outs) {
		return nil, false, fmt.Errorf("re-encoding the %s part at line %d made a line equal to its boundary; choose another boundary", pt.mediaType, pt.line)
	}
	return out.Bytes(), true, nil
}

// walkMessage prepares the message inside a message/rfc822 part.
func (p *entityPreparer) walkMessage(pt *entityPart, depth int) ([]byte, bool, error) {
	if pt.encoding == "base64" || pt.encoding == "quoted-printable" {
		return nil, false, fmt.Errorf("the message/rfc822 part at line %d has Content-Transfer-Encoding %s, but RFC 2046 section 5.2.1 allows only 7bit, 8bit or binary", pt.line, pt.encoding)
	}
	inner, changed, err := p.walk(pt.body, pt.bodyLine, depth+1, "text/plain")
	if err != nil {
		return nil, false, err
	}

	kept, relabel := p.keepComposite(pt, changed)
	if kept != nil {
		return kept, false, nil
	}
	var out bytes.Buffer
	writeCompositeHeader(&out, pt, relabel)
	out.Write(inner)
	return out.Bytes(), true, nil
}

// keepComposite returns the bytes of a multipart or message/rfc822 part as
// they are, with CRLF line endings, when none of its content changed and
// they pass the checks, and nil otherwise. relabel reports whether
// the part's 8bit or binary label must go, because a signed part is 7bit.
func (p *entityPreparer) keepComposite(pt *entityPart, changed bool) (kept []byte, relabel bool) {
	relabel = p.signed && (pt.encoding == "8bit" || pt.encoding == "binary")
	if changed || relabel {
		return nil, relabel
	}
	candidate := crlfLineEndings(pt.raw)
	if checkEntity(candidate, rawmime.CheckOptions{Signed: p.signed}) != nil {
		return nil, false
	}
	return candidate, false
}

// writeCompositeHeader writes the header of a multipart or message/rfc822
// part that is written anew, and the empty line after it. With relabel, the
// Content-Transfer-Encoding field is dropped, because the content is now
// 7bit, the default.
func writeCompositeHeader(w *bytes.Buffer, pt *entityPart, relabel bool) {
	for _, f := range pt.fields {
		if relabel && strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			continue
		}
		writeFieldLines(w, f)
	}
	w.WriteString("\r\n")
}

// writeFieldLines writes a field as it was read, with CRLF line endings and
// without white space at the end of its lines, which a signed part must not
// have. Dropping it changes at most the amount of white space where a line
// was folded. A continuation line of white space alone is dropped, because
// it would otherwise become the empty line that ends the header.
func writeFieldLines(w *bytes.Buffer, f rawField) {
	for _, line := range f.lines {
		line = bytes.TrimRight(line, " \t")
		if len(line) == 0 {
			continue
		}
		w.Write(line)
		w.WriteString("\r\n")
	}
}

// checkEntity runs the checker of pgpmime and smime over b.
func checkEntity(b []byte, opts rawmime.CheckOptions) error {
	c := rawmime.NewChecker(io.Discard, opts)
	if _, err := c.Write(b); err != nil {
		return err
	}
	return c.Close()
}

// crlfLineEndings returns b with every lone LF and lone CR turned into CRLF.
// It returns b itself when there is none.
func crlfLineEndings(b []byte) []byte {
	lone := false
	for i, c := range b {
		if (c == '\n' && (i == 0 || b[i-1] != '\r')) || (c == '\r' && (i+1 == len(b) || b[i+1] != '\n')) {
			lone = true
			break
		}
	}
	if !lone {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case b[i] == '\r' || b[i] == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, b[i])
		}
	}
	return out
}
