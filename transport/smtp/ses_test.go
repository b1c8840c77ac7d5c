package smtp

import (
	"strings"
	"testing"
)

func TestSESPasswordVectors(t *testing.T) {
	// The vectors of terraform-provider-aws's TestSESSMTPPasswordFromSecretKeySigV4
	// (internal/service/iam/access_key_test.go), whose passwords authenticate
	// against SES.
	tests := []struct {
		region, secret, want string
	}{
		{"eu-central-1", "some+secret+key", "BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2"},
		{"eu-central-1", "another+secret+key", "BBbphbrQmrKMx42d1N6+C7VINYEBGI5v9VsZeTxwskfh"},
		{"us-west-1", "some+secret+key", "BH+jbMzper5WwlwUar9E1ySBqHa9whi0GPo+sJ0mVYJj"},
		{"us-west-1", "another+secret+key", "BKVmjjMDFk/qqw8EROW99bjCS65PF8WKvK5bSr4Y6EqF"},
	}
	for _, tt := range tests {
		got, err := SESPassword(tt.secret, tt.region)
		if err != nil {
			t.Errorf("SESPassword(%q, %q): %v", tt.secret, tt.region, err)
			continue
		}
		if got != tt.want {
			t.Errorf("SESPassword(%q, %q) = %q, want %q", tt.secret, tt.region, got, tt.want)
		}
	}
}

func TestSESPasswordNotVersion2(t *testing.T) {
	// Version 2 passwords of the same suite, which SES rejects with 535.
	version2 := map[string]string{
		"some+secret+key":    "AnkqhOiWEcszZZzTMCQbOY1sPGoLFgMH9zhp4eNgSjo4",
		"another+secret+key": "Akwqr0Giwi8FsQFgW3DXWCC2DiiQ/jZjqLDWK8TeTBgL",
	}
	for secret, old := range version2 {
		got, err := SESPassword(secret, "eu-central-1")
		if err != nil {
			t.Fatal(err)
		}
		if got == old || !strings.HasPrefix(got, "B") {
			t.Errorf("SESPassword(%q) = %q, want a version 4 password (first byte 0x04, base64 \"B\")", secret, got)
		}
	}
}

func TestSESPasswordRegionBound(t *testing.T) {
	a, err := SESPassword("some+secret+key", "ap-southeast-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := SESPassword("some+secret+key", "us-gov-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two regions gave the same password %q", a)
	}
}

func TestSESPasswordInvalidInput(t *testing.T) {
	tests := []struct {
		name, secret, region, want string
	}{
		{"empty secret", "", "eu-central-1", "missing secret access key"},
		{"secret with newline", "abc\n", "eu-central-1", "white space"},
		{"empty region", "abc", "", "missing AWS region"},
		{"upper case region", "abc", "EU-CENTRAL-1", "invalid AWS region"},
		{"region without number", "abc", "eu-central", "invalid AWS region"},
		{"endpoint for region", "abc", "email-smtp.eu-central-1.amazonaws.com", "invalid AWS region"},
		{"double dash", "abc", "eu--central-1", "invalid AWS region"},
		{"injection", "abc", "eu-central-1\n", "invalid AWS region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SESPassword(tt.secret, tt.region)
			if err == nil {
				t.Fatalf("SESPassword(%q, %q) returned no error", tt.secret, tt.region)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestSESHost(t *testing.T) {
	host, err := SESHost("eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "email-smtp.eu-central-1.amazonaws.com"; host != want {
		t.Errorf("SESHost = %q, want %q", host, want)
	}
	if _, err := SESHost("eu-central-1.evil.example"); err == nil {
		t.Error("SESHost accepted a region with dots")
	}
}
