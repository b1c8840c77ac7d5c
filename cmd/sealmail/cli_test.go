package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs sealmail with args in the home dir and returns its exit status
// and output.
func runCLI(t *testing.T, home string, stdin string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--home", home}, args...)
	status = run(full, strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"frobnicate"}, 2},
		{"unknown flag", []string{"send", "--bogus"}, 2},
		{"missing from", []string{"send", "--to", "bob@example.org", "--text", "-"}, 2},
		{"missing recipients", []string{"send", "--from", "a@example.org", "--text", "-"}, 2},
		{"bad address", []string{"compose", "--from", "a@example.org", "--to", "b@", "--text", "-"}, 2},
		{"unknown via", []string{"send", "--from", "a@example.org", "--to", "b@example.org", "--text", "-", "--via", "x"}, 2},
		{"subject with LF", []string{"compose", "--from", "a@example.org", "--to", "b@example.org", "--text", "-", "--subject", "a\nBcc: x@example.org"}, 2},
		{"forbidden header", []string{"compose", "--from", "a@example.org", "--to", "b@example.org", "--text", "-", "--header", "From: x@example.org"}, 2},
		{"bad tag", []string{"send", "--via", "ses", "--region", "eu-west-1", "--from", "a@example.org", "--to", "b@example.org", "--text", "-", "--tag", "k=v w"}, 2},
		{"help", []string{"help"}, 0},
		{"command help", []string{"send", "-h"}, 0},
		{"unknown recipient", []string{"send", "--encrypt", "--no-encrypt-to-self", "--from", "a@example.org", "--to", "b@example.org", "--text", "-"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, stderr := runCLI(t, t.TempDir(), "hello\n", tt.args...)
			if status != tt.want {
				t.Errorf("exit status = %d, want %d; stderr:\n%s", status, tt.want, stderr)
			}
			if status != 0 && !strings.HasPrefix(stderr, "sealmail: ") {
				t.Errorf("stderr does not start with %q:\n%s", "sealmail: ", stderr)
			}
		})
	}
}
