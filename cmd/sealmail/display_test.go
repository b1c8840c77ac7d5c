package main

import "testing"

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
