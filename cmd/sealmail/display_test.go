package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func TestPrintableEscapes(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"Bob <bob@example.org>", "Bob <bob@example.org>"},
		{"Jürgen <j@example.org>", "Jürgen <j@example.org>"},
		{"\x1b[1A\r\x1b[2Kfingerprint", `\x1b[1A\x0d\x1b[2Kfingerprint`},
		{"a\nb\tc", `a\x0ab\x09c`},
		{"evil\u202egro.elpmaxe", `evil\u202egro.elpmaxe`},
		{"\u0085next line", `\x85next line`},
		{"bad \xff byte", `bad \xff byte`},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrintableLinesKeepsNewlines(t *testing.T) {
	got := printableLines("one\n\ttwo \x1b[2J")
	if want := "one\n\ttwo \\x1b[2J"; got != want {
		t.Errorf("printableLines = %q, want %q", got, want)
	}
}

func TestKeyringOutputEscapesUserID(t *testing.T) {
	home := t.TempDir()
	name := "\x1b[1A\r\x1b[2Kfingerprint 1D32 D1CA\x1b[1B\rMallory"
	e, err := openpgp.NewEntity(name, "", "mallory@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	var public bytes.Buffer
	if err := e.Serialize(&public); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "mallory.pgp")
	if err := os.WriteFile(file, public.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"keyring", "import", file},
		{"keyring", "list"},
		{"keyring", "show", "mallory@example.org"},
	} {
		status, stdout, stderr := runCLI(t, home, "", args...)
		if status != 0 {
			t.Fatalf("%v: exit status %d\n%s", args, status, stderr)
		}
		if strings.ContainsAny(stdout+stderr, "\x1b\r") {
			t.Errorf("%v prints the user ID's control characters raw:\n%q", args, stdout+stderr)
		}
		if !strings.Contains(stdout, `\x1b[1A\x0d\x1b[2Kfingerprint`) {
			t.Errorf("%v does not show the user ID escaped:\n%q", args, stdout)
		}
	}
}
