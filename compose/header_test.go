package compose

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
)

func TestFormatAddress(t *testing.T) {
	tests := []struct {
		name, address, want string
	}{
		{"", "bob@example.org", "bob@example.org"},
		{"Bob Smith", "bob@example.org", "Bob Smith <bob@example.org>"},
		{"Smith, Bob", "bob@example.org", `"Smith, Bob" <bob@example.org>`},
		{`Bob "the" Builder`, "bob@example.org", `"Bob \"the\" Builder" <bob@example.org>`},
		{"=?utf-8?q?x?=", "bob@example.org", "=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?= <bob@example.org>"},
		{"Bob =?x?= Smith", "bob@example.org", "=?utf-8?q?Bob_=3D=3Fx=3F=3D_Smith?= <bob@example.org>"},
		{"Jörg", "joerg@example.org", "=?utf-8?q?J=C3=B6rg?= <joerg@example.org>"},
		{"Müller, Jörg", "joerg@example.org", "=?utf-8?b?TcO8bGxlciwgSsO2cmc=?= <joerg@example.org>"},
	}
	for _, tt := range tests {
		got := formatAddress(&mail.Address{Name: tt.name, Address: tt.address})
		if got != tt.want {
			t.Errorf("formatAddress(%q) = %q, want %q", tt.name, got, tt.want)
		}

		parsed, err := mail.ParseAddress(got)
		if err != nil {
			t.Errorf("net/mail cannot parse %q: %v", got, err)
			continue
		}
		if parsed.Name != tt.name || parsed.Address != tt.address {
			t.Errorf("net/mail reads %q as %q <%s>", got, parsed.Name, parsed.Address)
		}
	}
}

func TestWriteFieldFolds(t *testing.T) {
	long := strings.Repeat("word ", 60)
	var b bytes.Buffer
	if err := writeField(&b, "Subject", long); err != nil {
		t.Fatalf("writeField: %v", err)
	}

	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	if len(lines) < 4 {
		t.Errorf("the field was not folded: %q", out)
	}
	for i, line := range lines {
		if len(line) > foldAt {
			t.Errorf("line %d has %d characters, more than %d", i+1, len(line), foldAt)
		}
		if i > 0 && line[0] != ' ' {
			t.Errorf("continuation line %d does not start with white space: %q", i+1, line)
		}
		if strings.TrimSpace(line) == "" {
			t.Errorf("line %d is only white space", i+1)
		}
	}
	if unfolded := strings.ReplaceAll(out, "\r\n", ""); unfolded != "Subject: "+long {
		t.Errorf("unfolding changes the value: %q", unfolded)
	}
}

func TestFormatAddressLongName(t *testing.T) {
	names := []string{
		strings.Repeat("a", 2000),
		"Bob " + strings.Repeat("b", 995),
		"a" + strings.Repeat(" ", 1000) + "b",
	}
	for _, name := range names {
		list := []*mail.Address{{Name: "Carol", Address: "carol@example.org"}, {Name: name, Address: "bob@example.org"}}
		value := formatAddressList(list)
		var b bytes.Buffer
		if err := writeField(&b, "Reply-To", value); err != nil {
			t.Errorf("display name of %d characters: %v", len(name), err)
			continue
		}
		checkLines(t, b.Bytes())

		msg, err := mail.ReadMessage(strings.NewReader(b.String() + "\r\n"))
		if err != nil {
			t.Fatalf("net/mail cannot read %q: %v", b.String(), err)
		}
		parsed, err := msg.Header.AddressList("Reply-To")
		if err != nil {
			t.Fatalf("net/mail cannot parse %q: %v", b.String(), err)
		}
		if len(parsed) != 2 || parsed[1].Name != name {
			t.Errorf("display name of %d characters reads back as %q", len(name), parsed)
		}
	}
}

func TestWriteFieldLongWord(t *testing.T) {
	var b bytes.Buffer
	if err := writeField(&b, "X-Long", strings.Repeat("a", 900)); err != nil {
		t.Errorf("a 900-character word was rejected: %v", err)
	}

	err := writeField(&b, "X-Long", "a "+strings.Repeat("b", 1000))
	if err == nil {
		t.Fatalf("a 1000-character word was accepted")
	}
	if want := `header field "X-Long" has a word of 1000 characters`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestEncodeSubject(t *testing.T) {
	subjects := []string{
		"Plain ASCII",
		"Grüße aus München",
		strings.Repeat("Ünïcödé ", 40),
		"日本語の件名",
		"=?utf-8?q?hi?=",
		"Re: =?ISO-8859-1?Q?a?= and more",
		"Grüße =?utf-8?q?hi?=",
		strings.Repeat("x", 2000),
		"See " + strings.Repeat("https://example.org/", 60) + " now",
		"a" + strings.Repeat(" ", 1000) + "b",
		"tab\tand_underscore?=",
	}
	dec := new(mime.WordDecoder)
	for _, s := range subjects {
		var b bytes.Buffer
		if err := writeField(&b, "Subject", encodeSubject(s)); err != nil {
			t.Fatalf("writeField(%q): %v", s, err)
		}
		checkLines(t, b.Bytes())

		msg, err := mail.ReadMessage(strings.NewReader(b.String() + "\r\n"))
		if err != nil {
			t.Fatalf("net/mail cannot read the header of %q: %v", s, err)
		}
		got, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("failed to decode the subject %q: %v", msg.Header.Get("Subject"), err)
		}
		if got != s {
			t.Errorf("subject reads back as %q, want %q", got, s)
		}
	}
}

func TestEncodeSubjectKeepsPlainASCII(t *testing.T) {
	for _, s := range []string{"Plain ASCII", "Re: [list] 50% off? = yes", strings.Repeat("word ", 300)} {
		if got := encodeSubject(s); got != s {
			t.Errorf("encodeSubject(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestEncodeWordsLength(t *testing.T) {
	for _, s := range []string{"", strings.Repeat("ü", 100), strings.Repeat("a", 200), strings.Repeat("日本", 50)} {
		encoded := encodeWords(s)
		for _, word := range strings.Split(encoded, " ") {
			if len(word) > maxEncodedWord {
				t.Errorf("encoded word of %d characters, more than %d: %q", len(word), maxEncodedWord, word)
			}
		}

		got, err := new(mime.WordDecoder).DecodeHeader(encoded)
		if err != nil {
			t.Fatalf("failed to decode %q: %v", encoded, err)
		}
		if got != s {
			t.Errorf("%q reads back as %q", s, got)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	list, err := ParseAddressList(`"Smith, Bob" <bob@example.org>, Jörg <joerg@bücher.example>, carol@example.org`)
	if err != nil {
		t.Fatalf("ParseAddressList: %v", err)
	}
	want := []mail.Address{
		{Name: "Smith, Bob", Address: "bob@example.org"},
		{Name: "Jörg", Address: "joerg@xn--bcher-kva.example"},
		{Address: "carol@example.org"},
	}
	if len(list) != len(want) {
		t.Fatalf("got %d addresses, want %d", len(list), len(want))
	}
	for i, w := range want {
		if *list[i] != w {
			t.Errorf("address %d = %+v, want %+v", i, *list[i], w)
		}
	}
}

func TestParseAddressListError(t *testing.T) {
	_, err := ParseAddressList("bücher@example.net")
	if err == nil {
		t.Fatalf("ParseAddressList accepted a local part outside ASCII")
	}
	if want := `invalid address "bücher@example.net": the local part is not ASCII`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}

	var inputErr *InputError
	if !errors.As(err, &inputErr) {
		t.Errorf("error %q is a %T, want an *InputError", err, err)
	}
}

func TestParseAddressListRejects(t *testing.T) {
	for _, s := range []string{"", "  ", "jörg@example.org", "bob@example.org\r\nBcc: eve@example.org", "not an address", "group:;"} {
		if _, err := ParseAddressList(s); err == nil {
			t.Errorf("ParseAddressList(%q) returned no error", s)
		}
	}
}

func FuzzParseAddressList(f *testing.F) {
	f.Add(`"Smith, Bob" <bob@example.org>, carol@example.org`)
	f.Add("Jörg <joerg@bücher.example>")
	f.Add("=?utf-8?q?J=C3=B6rg?= <j@example.org>")
	f.Add("group: a@b.c, d@e.f;")
	f.Add("a@xn--80ak6aa92e.com")
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseAddressList(s)
		if err != nil {
			return
		}

		value := formatAddressList(list)
		var b bytes.Buffer
		if err := writeField(&b, "To", value); err != nil {
			return // a display name too long to fold is an error, not a panic
		}
		for _, c := range []byte(b.String()) {
			if c >= 0x80 {
				t.Fatalf("header is not ASCII: %q", b.String())
			}
		}

		reread, err := mail.ParseAddressList(value)
		if err != nil {
			t.Fatalf("net/mail cannot parse %q, written from %q: %v", value, s, err)
		}
		if len(reread) != len(list) {
			t.Fatalf("%q reads back as %d addresses, want %d", value, len(reread), len(list))
		}
		for i := range list {
			if reread[i].Address != list[i].Address {
				t.Errorf("address %d reads back as %q, want %q", i, reread[i].Address, list[i].Address)
			}
			if reread[i].Name != list[i].Name {
				t.Errorf("display name %d reads back as %q, want %q", i, reread[i].Name, list[i].Name)
			}
		}
	})
}
