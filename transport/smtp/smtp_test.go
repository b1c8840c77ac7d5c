package smtp

import (
	"errors"
	"strings"
	"testing"
)

func TestNewModeByPort(t *testing.T) {
	tests := []struct {
		port int
		want TLSMode
	}{
		{0, StartTLS}, {25, StartTLS}, {587, StartTLS}, {2587, StartTLS},
		{465, ImplicitTLS}, {2465, ImplicitTLS},
	}
	for _, tt := range tests {
		tr, err := New(Options{Host: "email-smtp.eu-central-1.amazonaws.com", Port: tt.port})
		if err != nil {
			t.Errorf("port %d: %v", tt.port, err)
			continue
		}
		if tr.Mode() != tt.want {
			t.Errorf("port %d: mode %q, want %q", tt.port, tr.Mode(), tt.want)
		}
	}
}

func TestNewInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing host", Options{}, "missing SMTP host"},
		{"host with port", Options{Host: "mail.example.org:587"}, "without a port"},
		{"host with scheme", Options{Host: "smtp://mail.example.org"}, "invalid SMTP host"},
		{"other port without mode", Options{Host: "mail.example.org", Port: 2525}, "missing TLS mode for SMTP port 2525"},
		{"port out of range", Options{Host: "mail.example.org", Port: 70000}, "invalid SMTP port"},
		{"unknown mode", Options{Host: "mail.example.org", TLS: "ssl"}, "invalid TLS mode"},
		{"insecure to a remote host", Options{Host: "mail.example.org", Port: 2525, Insecure: true}, "only to a loopback address"},
		{"insecure with TLS mode", Options{Host: "127.0.0.1", TLS: StartTLS, Insecure: true}, "cannot be combined"},
		{"insecure with credentials", Options{Host: "127.0.0.1", Insecure: true, Username: "u", Password: "secret-password"}, "only over TLS"},
		{"user without password", Options{Host: "mail.example.org", Username: "u"}, "missing SMTP password"},
		{"password without user", Options{Host: "mail.example.org", Password: "secret-password"}, "missing SMTP user name"},
		{"password with newline", Options{Host: "mail.example.org", Username: "u", Password: "secret-password\r\nQUIT"}, "invalid SMTP password"},
		{"HELO name with space", Options{Host: "mail.example.org", HELOName: "my host"}, "invalid HELO name"},
		{"negative timeout", Options{Host: "mail.example.org", ConnectTimeout: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New returned no error")
			}
			var optErr *OptionError
			if !errors.As(err, &optErr) {
				t.Errorf("error %v is not an *OptionError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-password") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestNewInsecureLoopback(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		tr, err := New(Options{Host: host, Port: 1025, Insecure: true})
		if err != nil {
			t.Errorf("host %q: %v", host, err)
			continue
		}
		if !tr.Insecure() {
			t.Errorf("host %q: Insecure() = false", host)
		}
	}
}

func TestQueueID(t *testing.T) {
	tests := []struct{ reply, want string }{
		{"Ok 0100018f2c5b1a2b-3c4d5e6f-0000-0000-0000-000000000000-000000", "0100018f2c5b1a2b-3c4d5e6f-0000-0000-0000-000000000000-000000"},
		{"2.0.0 Ok: queued as SXrDg3y9xVpQ7Z8b6nE6gM", "SXrDg3y9xVpQ7Z8b6nE6gM"},
		{"2.0.0 Ok: queued as <abc@mail>", "abc@mail"},
		{"2.0.0 Ok: queued", "Ok: queued"},
		{"OK", "OK"},
	}
	for _, tt := range tests {
		if got := queueID(tt.reply); got != tt.want {
			t.Errorf("queueID(%q) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}
