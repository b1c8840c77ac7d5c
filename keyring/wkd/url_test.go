package wkd_test

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/sealmail/sealmail/keyring/wkd"
)

// TestHashDraftExample checks the example of section 3.1 of
// draft-koch-openpgp-webkey-service.
func TestHashDraftExample(t *testing.T) {
	const want = "iy9q119eutrkn8s1mk4r39qejnbu3n5q"
	if got := wkd.Hash("Joe.Doe"); got != want {
		t.Errorf("wkd.Hash(%q) = %q, want %q", "Joe.Doe", got, want)
	}
	advanced, direct, err := wkd.URLs("Joe.Doe@Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/" + want + "?l=Joe.Doe"; advanced != want {
		t.Errorf("advanced URL = %q, want %q", advanced, want)
	}
	if want := "https://example.org/.well-known/openpgpkey/hu/" + want + "?l=Joe.Doe"; direct != want {
		t.Errorf("direct URL = %q, want %q", direct, want)
	}
}

func TestHashLowercasesASCIIOnly(t *testing.T) {
	if wkd.Hash("BOB") != wkd.Hash("bob") {
		t.Error("wkd.Hash does not map ASCII letters to lowercase")
	}
	// The draft maps only A to Z, so "Ö" stays as it is.
	if wkd.Hash("JÖRG") != wkd.Hash("jÖrg") {
		t.Error("wkd.Hash(JÖRG) differs from wkd.Hash(jÖrg)")
	}
	if wkd.Hash("JÖRG") == wkd.Hash("jörg") {
		t.Error("wkd.Hash maps non-ASCII letters to lowercase")
	}
	if got := len(wkd.Hash("a")); got != 32 {
		t.Errorf("len(wkd.Hash) = %d, want 32", got)
	}
}

func TestURLs(t *testing.T) {
	tests := []struct {
		address, advanced, direct string
	}{
		{
			"Bob+Tag@Example.org",
			"https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/" + wkd.Hash("bob+tag") + "?l=Bob%2BTag",
			"https://example.org/.well-known/openpgpkey/hu/" + wkd.Hash("bob+tag") + "?l=Bob%2BTag",
		},
		{
			"anna@Bücher.example",
			"https://openpgpkey.xn--bcher-kva.example/.well-known/openpgpkey/xn--bcher-kva.example/hu/" + wkd.Hash("anna") + "?l=anna",
			"https://xn--bcher-kva.example/.well-known/openpgpkey/hu/" + wkd.Hash("anna") + "?l=anna",
		},
		{
			"jörg&co=1@example.org",
			"https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/" + wkd.Hash("jörg&co=1") + "?l=j%C3%B6rg%26co%3D1",
			"https://example.org/.well-known/openpgpkey/hu/" + wkd.Hash("jörg&co=1") + "?l=j%C3%B6rg%26co%3D1",
		},
		{
			`"a@b"@example.org`,
			"https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/" + wkd.Hash(`"a@b"`) + "?l=%22a%40b%22",
			"https://example.org/.well-known/openpgpkey/hu/" + wkd.Hash(`"a@b"`) + "?l=%22a%40b%22",
		},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			advanced, direct, err := wkd.URLs(tt.address)
			if err != nil {
				t.Fatal(err)
			}
			if advanced != tt.advanced {
				t.Errorf("advanced URL = %q, want %q", advanced, tt.advanced)
			}
			if direct != tt.direct {
				t.Errorf("direct URL = %q, want %q", direct, tt.direct)
			}
		})
	}
}

func TestURLsInvalidAddress(t *testing.T) {
	for _, address := range []string{
		"",
		"bob",
		"@example.org",
		"bob@",
		"bob@exa mple.org",
		"bob@[127.0.0.1]",
		"bob@example.org:8443",
		"bob@example.org/evil",
		"bob@example.org.",
		"bo b@example.org",
		"bob\n@example.org",
		"Bob <bob@example.org>",
		"\xffbob@example.org",
	} {
		t.Run(address, func(t *testing.T) {
			_, _, err := wkd.URLs(address)
			if !errors.Is(err, wkd.ErrInvalidAddress) {
				t.Fatalf("wkd.URLs(%q) error = %v, want wkd.ErrInvalidAddress", address, err)
			}
			if !strings.Contains(err.Error(), "invalid address") {
				t.Errorf("error %q does not say the address is invalid", err)
			}
		})
	}
}

func TestURLsSecondAtRejected(t *testing.T) {
	for _, address := range []string{
		"bob@example.org@evil.example",
		`"bob"@example.org@evil.example`,
		"bob@@evil.example",
	} {
		t.Run(address, func(t *testing.T) {
			_, _, err := wkd.URLs(address)
			if !errors.Is(err, wkd.ErrInvalidAddress) {
				t.Fatalf("wkd.URLs(%q) error = %v, want wkd.ErrInvalidAddress", address, err)
			}
			if !strings.Contains(err.Error(), `more than one "@"`) {
				t.Errorf("error %q does not name the second \"@\"", err)
			}
		})
	}
}

func TestURLsNotAddrSpec(t *testing.T) {
	for _, address := range []string{
		"<bob@example.org>",
		"bob(comment)@example.org",
		"bob..x@example.org",
		".bob@example.org",
		"bob.@example.org",
		`"bob@example.org`,
		`"bob"x@example.org`,
		"bob,carol@example.org",
		"bob;@example.org",
	} {
		t.Run(address, func(t *testing.T) {
			_, _, err := wkd.URLs(address)
			if !errors.Is(err, wkd.ErrInvalidAddress) {
				t.Fatalf("wkd.URLs(%q) error = %v, want wkd.ErrInvalidAddress", address, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(address)) {
				t.Errorf("error %q does not name the address", err)
			}
		})
	}
}

// FuzzURLs checks that an address URLs accepts has one "@" outside its
// quoted local part and becomes URLs on that domain alone.
func FuzzURLs(f *testing.F) {
	for _, seed := range []string{
		"bob@example.org", `"a@b"@example.org`, "bob@example.org@evil.example",
		"jörg&co=1@example.org", `"a\"@b"@example.org`, "bob@[127.0.0.1]",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, address string) {
		advanced, direct, err := wkd.URLs(address)
		if err != nil {
			if !errors.Is(err, wkd.ErrInvalidAddress) {
				t.Fatalf("wkd.URLs(%q) error = %v, want wkd.ErrInvalidAddress", address, err)
			}
			return
		}
		a, err := url.Parse(advanced)
		if err != nil {
			t.Fatalf("advanced URL %q does not parse: %v", advanced, err)
		}
		d, err := url.Parse(direct)
		if err != nil {
			t.Fatalf("direct URL %q does not parse: %v", direct, err)
		}
		if a.Scheme != "https" || d.Scheme != "https" || a.Port() != "" || d.Port() != "" {
			t.Fatalf("URLs %q and %q are not HTTPS on the default port", advanced, direct)
		}
		if a.Host != "openpgpkey."+d.Host {
			t.Fatalf("advanced host %q is not openpgpkey. and the direct host %q", a.Host, d.Host)
		}
		local := a.Query().Get("l")
		if !strings.HasPrefix(address, local+"@") {
			t.Fatalf("local part %q is not the part of %q before its first \"@\" outside quotes", local, address)
		}
		if strings.Contains(address[len(local)+1:], "@") {
			t.Fatalf("domain of %q contains \"@\"", address)
		}
	})
}
