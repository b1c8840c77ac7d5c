package mailaddr

import "testing"

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Alice@Example.ORG", "alice@example.org"},
		{"idn@bücher.example", "idn@xn--bcher-kva.example"},
		{"IDN@xn--bcher-kva.example", "idn@xn--bcher-kva.example"},
		{"no-domain", "no-domain"},
		{"bad@-invalid-.example", "bad@-invalid-.example"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
