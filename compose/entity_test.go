package compose

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/internal/rawmime"
)

// leafContents returns the decoded content of every leaf of entity, in
// order, read with rawmime, which this package's preparation does not use
// for decoding.
func leafContents(t *testing.T, entity []byte) []string {
	t.Helper()
	e, err := rawmime.ParseEntity(entity)
	if err != nil {
		t.Fatalf("ParseEntity: %v\n%q", err, entity)
	}
	if strings.HasPrefix(e.MediaType, "multipart/") {
		parts, err := rawmime.SplitMultipart(e.Body, e.Params["boundary"])
		if err != nil {
			t.Fatalf("SplitMultipart: %v\n%q", err, entity)
		}
		var out []string
		for _, p := range parts {
			out = append(out, leafContents(t, p)...)
		}
		return out
	}
	content, err := e.DecodedBody()
	if err != nil {
		t.Fatalf("DecodedBody: %v", err)
	}
	return []string{string(content)}
}

func TestPrepareEntityKeepsCleanEntity(t *testing.T) {
	entity := "Content-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\nContent-Type: text/plain\n\nHello\n--b\n" +
		"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--b--\nepilogue\n"
	for _, signed := range []bool{false, true} {
		out, err := prepareEntity([]byte(entity), signed)
		if err != nil {
			t.Fatalf("signed %v: %v", signed, err)
		}
		if want := strings.ReplaceAll(entity, "\n", "\r\n"); string(out) != want {
			t.Errorf("signed %v: entity = %q, want the input with CRLF %q", signed, out, want)
		}
	}
}

func TestPrepareEntityReencodes(t *testing.T) {
	tests := []struct {
		name   string
		entity string
		signed bool
		want   []string // decoded leaf contents
		in     []string // parts of the prepared entity
		notIn  []string
	}{
		{
			name:   "8bit text when encrypting",
			entity: "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\n",
			want:   []string{"Grüße\r\n"},
			in:     []string{"Content-Transfer-Encoding: quoted-printable\r\n", "Gr=C3=BC=C3=9Fe\r\n"},
			notIn:  []string{"8bit"},
		},
		{
			name:   "7-bit text labelled 8bit when encrypting",
			entity: "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nHello  \n",
			want:   []string{"Hello  \r\n"},
			in:     []string{"Content-Transfer-Encoding: 8bit\r\n\r\nHello  \r\n"},
		},
		{
			name:   "7-bit text labelled 8bit when signing",
			entity: "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nHello\n",
			signed: true,
			want:   []string{"Hello\r\n"},
			in:     []string{"quoted-printable"},
		},
		{
			name:   "trailing white space and From when signing",
			entity: "Content-Type: text/plain\n\nline with space \nFrom me\n",
			signed: true,
			want:   []string{"line with space \r\nFrom me\r\n"},
			in:     []string{"line with space=20\r\n=46rom me\r\n"},
		},
		{
			name:   "text without a final line break",
			entity: "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÄ",
			want:   []string{"Ä"},
			in:     []string{"\r\n\r\n=C3=84"},
		},
		{
			name:   "missing Content-Type with UTF-8",
			entity: "\nGrüße\n",
			want:   []string{"Grüße\r\n"},
			in:     []string{"Content-Type: text/plain; charset=utf-8\r\n"},
		},
		{
			name:   "text without charset",
			entity: "Content-Type: text/plain; format=flowed\nContent-Transfer-Encoding: 8bit\n\nÄ\n",
			want:   []string{"Ä\r\n"},
			in:     []string{"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"},
		},
		{
			name: "multipart with 8bit text and a binary attachment",
			entity: "Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: 8bit\n\npreamble \xff\n" +
				"--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÄ\n" +
				"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=x.bin\nContent-Transfer-Encoding: binary\n\n\x00\xff\r\x01\n" +
				"--b--\n",
			signed: true,
			want:   []string{"Ä", "\x00\xff\r\x01"},
			in:     []string{"Content-Transfer-Encoding: base64\r\n\r\nAP8NAQ==\r\n--b--", "Content-Disposition: attachment; filename=x.bin\r\n"},
			notIn:  []string{"preamble", "8bit", "binary"},
		},
		{
			name:   "message/rfc822 with 8bit text",
			entity: "Content-Type: message/rfc822\n\nSubject: fwd\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÄ\n",
			in:     []string{"Subject: fwd\r\n", "=C3=84"},
		},
		{
			name:   "quoted-printable with a From line when signing",
			entity: "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nFrom here=\n on\n",
			signed: true,
			want:   []string{"From here on\r\n"},
			in:     []string{"=46rom here on\r\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := prepareEntity([]byte(tt.entity), tt.signed)
			if err != nil {
				t.Fatalf("prepareEntity: %v", err)
			}
			if err := checkEntity(out, rawmime.CheckOptions{Signed: tt.signed, NoMIMEVersion: true}); err != nil {
				t.Errorf("the prepared entity fails the checker: %v\n%q", err, out)
			}
			if tt.want != nil {
				got := leafContents(t, out)
				if strings.Join(got, "|") != strings.Join(tt.want, "|") {
					t.Errorf("decoded contents = %q, want %q\nentity: %q", got, tt.want, out)
				}
			}
			for _, s := range tt.in {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("entity lacks %q:\n%q", s, out)
				}
			}
			for _, s := range tt.notIn {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("entity contains %q:\n%q", s, out)
				}
			}
		})
	}
}

func TestPrepareEntityErrors(t *testing.T) {
	tests := []struct {
		name, entity, want string
	}{
		{"8-bit without charset", "\ncaf\xe9\n", "not UTF-8"},
		{"field other than Content-*", "Subject: x\n\nhi\n", `"Subject" (line 1) is not a Content-* field`},
		{"non-ASCII part header", "Content-Type: text/plain; name=ä.txt\n\nhi\n", "not ASCII"},
		{"invalid Content-Type", "Content-Type: text/\n\nhi\n", "invalid Content-Type"},
		{"multipart without boundary", "Content-Type: multipart/mixed\n\nhi\n", "no boundary"},
		{"multipart without close delimiter", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n", "close delimiter"},
		{"8-bit inside multipart/signed", "Content-Type: multipart/signed; boundary=b\n\n--b\n\nÄ\n--b--\n", "multipart/signed part at line 1"},
		{"unknown transfer encoding", "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nÄ\n", "x-uuencode"},
		{"invalid base64 to re-encode", "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nÄÄÄ\n", "invalid base64 body of the part at line 4"},
		{"nested too deep", strings.Repeat("Content-Type: message/rfc822\n\n", maxEntityDepth+2) + "hi\n", "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := prepareEntity([]byte(tt.entity), true)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateEntityExclusive(t *testing.T) {
	m := validMessage()
	m.Entity = []byte("Content-Type: text/plain\n\nhi\n")
	err := m.Validate()
	var input *InputError
	if !errors.As(err, &input) || input.Field != "Entity" {
		t.Errorf("Validate = %v, want an *InputError on Entity", err)
	}

	m.Text = nil
	if err := m.Validate(); err != nil {
		t.Errorf("Validate of an entity alone: %v", err)
	}
}

func TestValidateRecipientsAndMessageID(t *testing.T) {
	tests := []struct {
		name   string
		modify func(m *Message)
		field  string
	}{
		{"empty recipients", func(m *Message) { m.Recipients = []string{} }, "Recipients"},
		{"recipient with name", func(m *Message) { m.Recipients = []string{"Bob <bob@example.org>"} }, "Recipients"},
		{"message ID in brackets", func(m *Message) { m.MessageID = "<1@example.org>" }, "MessageID"},
		{"message ID with space", func(m *Message) { m.MessageID = "1 2@example.org" }, "MessageID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			tt.modify(m)
			err := m.Validate()
			var input *InputError
			if !errors.As(err, &input) || input.Field != tt.field {
				t.Errorf("Validate = %v, want an *InputError on %s", err, tt.field)
			}
		})
	}

	// Envelope recipients stand for the header when To, Cc and Bcc are
	// empty, as with "sendmail bob@example.org" and no header.
	m := validMessage()
	m.To = nil
	m.Recipients = []string{"bob@example.org"}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate with Recipients and no To: %v", err)
	}
}
