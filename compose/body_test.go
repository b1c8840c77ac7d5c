package compose

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

func TestQuotedPrintableLineEndings(t *testing.T) {
	inputs := map[string]string{
		"LF":      "first\nsecond  \n\nFrom here\n.\n",
		"CRLF":    "first\r\nsecond  \r\n\r\nFrom here\r\n.\r\n",
		"CR":      "first\rsecond  \r\rFrom here\r.\r",
		"mixed":   "first\r\nsecond  \r\n\nFrom here\r.\n",
		"no last": "first\nsecond  \n\nFrom here\n.",
	}
	var want []byte
	for name, input := range inputs {
		var b bytes.Buffer
		if err := writeQuotedPrintable(&b, []byte(input)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want == nil {
			want = b.Bytes()
			continue
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s endings give %q, want %q", name, b.Bytes(), want)
		}
	}
	if got := string(want); got != "first\r\nsecond =20\r\n\r\n=46rom here\r\n=2E\r\n" {
		t.Errorf("encoded text = %q", got)
	}
}

func TestQuotedPrintableSoftBreakFrom(t *testing.T) {
	// The soft line break falls right before "From ", which then starts an
	// encoded line.
	line := strings.Repeat("a", qpMaxLine-1) + "From here"
	var b bytes.Buffer
	if err := writeQuotedPrintable(&b, []byte(line)); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), strings.Repeat("a", qpMaxLine-1)+"=\r\n=46rom here\r\n"; got != want {
		t.Errorf("encoded text = %q, want %q", got, want)
	}
}

func FuzzQuotedPrintable(f *testing.F) {
	f.Add([]byte("Grüße\nFrom me\r\n.\rtrailing \t\n"))
	f.Add([]byte(strings.Repeat("x", 75) + "From =\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		var b bytes.Buffer
		if err := writeQuotedPrintable(&b, text); err != nil {
			t.Fatal(err)
		}
		encoded := b.Bytes()

		for _, line := range bytes.Split(bytes.TrimSuffix(encoded, []byte("\r\n")), []byte("\r\n")) {
			if len(line) > qpMaxLine {
				t.Fatalf("line of %d characters: %q", len(line), line)
			}
			if bytes.HasPrefix(line, []byte("From ")) {
				t.Fatalf("line starts with From: %q", line)
			}
			if bytes.HasSuffix(line, []byte(" ")) || bytes.HasSuffix(line, []byte("\t")) {
				t.Fatalf("line ends in white space: %q", line)
			}
		}
		if bytes.Contains(encoded, []byte("=_")) {
			t.Fatalf("output contains =_: %q", encoded)
		}

		decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(encoded)))
		if err != nil {
			t.Fatalf("mime/quotedprintable cannot read %q: %v", encoded, err)
		}
		var want []byte
		for _, line := range splitLines(text) {
			want = append(append(want, line...), '\r', '\n')
		}
		if !bytes.Equal(decoded, want) {
			t.Fatalf("decodes to %q, want %q", decoded, want)
		}
	})
}

func TestBodyTextOnly(t *testing.T) {
	m := validMessage()
	body := bodyBytes(t, m)
	checkBody(t, body)

	e := readEntity(t, body)
	if mt, params, _ := e.Header.ContentType(); mt != "text/plain" || params["charset"] != "utf-8" {
		t.Errorf("content type = %s %v, want text/plain with charset utf-8", mt, params)
	}
	if got := readAll(t, e.Body); got != "Hi Bob\r\n" {
		t.Errorf("text = %q", got)
	}
}

func TestBodyAlternative(t *testing.T) {
	m := validMessage()
	m.HTML = []byte("<p>Hi Bob</p>\n")
	body := bodyBytes(t, m)
	checkBody(t, body)

	parts := readParts(t, readEntity(t, body), "multipart/alternative")
	if len(parts) != 2 {
		t.Fatalf("got %d parts, want 2", len(parts))
	}
	if parts[0].mediaType != "text/plain" || parts[0].body != "Hi Bob\r\n" {
		t.Errorf("part 1 = %s %q", parts[0].mediaType, parts[0].body)
	}
	if parts[1].mediaType != "text/html" || parts[1].body != "<p>Hi Bob</p>\r\n" {
		t.Errorf("part 2 = %s %q", parts[1].mediaType, parts[1].body)
	}
}

func TestBodyAttachments(t *testing.T) {
	binary := strings.Repeat("\x00\xff binary \r\n", 100)
	longName := strings.Repeat("Übersicht ", 20) + ".pdf"
	m := validMessage()
	m.HTML = []byte("<p>Hi</p>")
	m.Attachments = []Attachment{
		stringAttachment("data.bin", binary),
		stringAttachment("Grüße.txt", "hello"),
		stringAttachment(longName, "long"),
		stringAttachment(`say "hi".txt`, ""),
	}
	body := bodyBytes(t, m)
	checkBody(t, body)

	parts := readParts(t, readEntity(t, body), "multipart/mixed")
	if len(parts) != 5 {
		t.Fatalf("got %d parts, want 5", len(parts))
	}
	if parts[0].mediaType != "multipart/alternative" {
		t.Errorf("part 1 is %s, want multipart/alternative", parts[0].mediaType)
	}
	want := []struct{ filename, mediaType, body string }{
		{"data.bin", "application/octet-stream", binary},
		{"Grüße.txt", "text/plain", "hello"},
		{longName, "application/pdf", "long"},
		{`say "hi".txt`, "text/plain", ""},
	}
	for i, w := range want {
		p := parts[i+1]
		if p.filename != w.filename {
			t.Errorf("attachment %d file name = %q, want %q", i+1, p.filename, w.filename)
		}
		if p.mediaType != w.mediaType {
			t.Errorf("attachment %d media type = %q, want %q", i+1, p.mediaType, w.mediaType)
		}
		if p.body != w.body {
			t.Errorf("attachment %d content differs: %q", i+1, p.body)
		}
	}

	if !bytes.Contains(body, []byte("filename*=utf-8''Gr%C3%BC%C3%9Fe.txt")) {
		t.Errorf("the non-ASCII file name is not in RFC 2231 form")
	}
	if !bytes.Contains(body, []byte("filename*1*=")) {
		t.Errorf("the long file name has no RFC 2231 continuation")
	}
	if bytes.Contains(body, []byte("=?")) {
		t.Errorf("the body contains an encoded word")
	}
	for i, line := range bytes.Split(body, []byte("\r\n")) {
		if len(line) > foldAt {
			t.Errorf("line %d has %d characters: %q", i+1, len(line), line)
		}
	}
}

// TestBodyStreamsAttachment writes a 20 MB attachment and checks that the
// heap never holds it: the content comes from a generator, and the output
// goes to a counter.
func TestBodyStreamsAttachment(t *testing.T) {
	const size = 20 << 20
	m := validMessage()
	m.Attachments = []Attachment{{
		Filename: "big.bin",
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.LimitReader(patternReader{}, size)), nil
		},
	}}
	n, err := normalize(m)
	if err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out countWriter
	if err := writeBody(context.Background(), &out, n); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)

	if out.n < size*4/3 {
		t.Errorf("wrote %d bytes, less than the base64 of %d", out.n, size)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > size/4 {
		t.Errorf("allocated %d bytes to write a %d-byte attachment", allocated, size)
	}
}

type patternReader struct{}

func (patternReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// checkBody checks the rules for a signed entity: CRLF, 7-bit, no line over
// 998, base64 lines at most 76, no line that starts with "From ", and no
// MIME-Version field anywhere.
func checkBody(t *testing.T, body []byte) {
	t.Helper()
	checkLines(t, body)
	for i, line := range bytes.Split(body, []byte("\r\n")) {
		if bytes.HasPrefix(line, []byte("From ")) {
			t.Errorf("line %d starts with From: %q", i+1, line)
		}
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' && len(line) > qpMaxLine && !bytes.Contains(line, []byte(":")) {
			t.Errorf("body line %d has %d characters, more than %d", i+1, len(line), qpMaxLine)
		}
	}
	if bytes.Contains(bytes.ToLower(body), []byte("mime-version")) {
		t.Errorf("the body entity contains MIME-Version")
	}
}

func readEntity(t *testing.T, raw []byte) *message.Entity {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read the entity: %v", err)
	}
	return e
}

type part struct {
	mediaType, filename, body string
}

// readParts reads the parts of a multipart entity of mediaType with
// mime/multipart, decoding each body.
func readParts(t *testing.T, e *message.Entity, mediaType string) []part {
	t.Helper()
	mt, params, err := e.Header.ContentType()
	if err != nil || mt != mediaType {
		t.Fatalf("content type = %q (%v), want %s", mt, err, mediaType)
	}

	var parts []part
	r := multipart.NewReader(e.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("failed to read part %d: %v", len(parts)+1, err)
		}
		raw := readAll(t, p)
		pt := part{body: raw}
		pt.mediaType, _, _ = mime.ParseMediaType(p.Header.Get("Content-Type"))
		if _, dparams, err := mime.ParseMediaType(p.Header.Get("Content-Disposition")); err == nil {
			pt.filename = dparams["filename"]
		}
		pt.body = decodeBody(t, p.Header, raw)
		parts = append(parts, pt)
	}
	return parts
}

func decodeBody(t *testing.T, h textproto.MIMEHeader, raw string) string {
	t.Helper()
	entity, err := message.New(message.Header{}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	entity.Header.Set("Content-Transfer-Encoding", h.Get("Content-Transfer-Encoding"))
	decoded, err := message.New(entity.Header, strings.NewReader(raw))
	if err != nil {
		t.Fatalf("failed to decode a part: %v", err)
	}
	return readAll(t, decoded.Body)
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("failed to read: %v", err)
	}
	return string(b)
}

func FuzzFormatParameter(f *testing.F) {
	f.Add("report.pdf")
	f.Add(`say "hi".txt`)
	f.Add(strings.Repeat("Übersicht ", 20))
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || checkLine("file name", name) != nil {
			return
		}
		value := "attachment;" + formatParameter("filename", name)
		for _, line := range strings.Split(value, "\r\n") {
			if len(line) > foldAt {
				t.Fatalf("line of %d characters: %q", len(line), line)
			}
		}

		_, params, err := mime.ParseMediaType(strings.ReplaceAll(value, "\r\n", ""))
		if err != nil {
			t.Fatalf("mime cannot parse %q: %v", value, err)
		}
		if params["filename"] != name {
			t.Fatalf("file name reads back as %q, want %q", params["filename"], name)
		}
	})
}
