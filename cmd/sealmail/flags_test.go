package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseFlagsInterspersed(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantSubject string
		wantJSON    bool
		wantArgs    []string
	}{
		{"flag after argument", []string{"a", "--json"}, "", true, []string{"a"}},
		{"flags around arguments", []string{"--subject", "s", "a", "--json", "b"}, "s", true, []string{"a", "b"}},
		{"double dash ends flags", []string{"a", "--", "--json", "-x"}, "", false, []string{"a", "--json", "-x"}},
		{"double dash first", []string{"--", "-x"}, "", false, []string{"-x"}},
		{"double dash as a value", []string{"--subject", "--", "a", "--json"}, "--", true, []string{"a"}},
		{"double dash after a bool flag", []string{"--json", "--", "--subject"}, "", true, []string{"--subject"}},
		{"standard input", []string{"-", "--json"}, "", true, []string{"-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{stdout: io.Discard, stderr: io.Discard}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			subject := fs.String("subject", "", "")
			asJSON := fs.Bool("json", false, "")
			if err := a.parseFlags(fs, tt.args); err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if *subject != tt.wantSubject {
				t.Errorf("subject = %q, want %q", *subject, tt.wantSubject)
			}
			if *asJSON != tt.wantJSON {
				t.Errorf("json = %v, want %v", *asJSON, tt.wantJSON)
			}
			if !slices.Equal(fs.Args(), tt.wantArgs) {
				t.Errorf("Args = %q, want %q", fs.Args(), tt.wantArgs)
			}
		})
	}
}
