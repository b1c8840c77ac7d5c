package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sealmail/sealmail/internal/sesemu"
)

// sesAccountJSON is the account aws-ses-v2-local returns from
// AWS_SES_ACCOUNT; its schema needs every field.
const sesAccountJSON = `{"DedicatedIpAutoWarmupEnabled":false,` +
	`"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"","Status":"GRANTED"},"UseCaseDescription":"","WebsiteURL":""},` +
	`"EnforcementStatus":"PROBATION","ProductionAccessEnabled":false,"SendingEnabled":true,` +
	`"SendQuota":{"Max24HourSend":200,"MaxSendRate":1,"SentLast24Hours":17},` +
	`"SuppressionAttributes":{"SuppressedReasons":[]}}`

// isolatedAWS gives the SDK static test credentials and no configuration of
// the developer's, and keeps it from asking an instance metadata service.
func isolatedAWS(t *testing.T) {
	t.Helper()
	fakeAWS(t)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SESV2", "")
}

func TestSESQuotaEmulator(t *testing.T) {
	emulator := sesemu.Start(t, "AWS_SES_ACCOUNT="+sesAccountJSON)
	isolatedAWS(t)

	status, stdout, stderr := runCLI(t, t.TempDir(), "", "ses", "quota", "--region", "eu-west-1", "--endpoint-url", emulator.URL)
	if status != 0 {
		t.Fatalf("ses quota: exit status %d: %s", status, stderr)
	}
	for _, want := range []string{
		"Max24HourSend:      200 recipients\n",
		"MaxSendRate:        1 recipients per second\n",
		"SentLast24Hours:    17 recipients\n",
		"Sandbox:            yes, only verified recipients\n",
		"SendingEnabled:     yes\n",
		"EnforcementStatus:  PROBATION\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "plain HTTP") {
		t.Errorf("ses quota did not warn about the plain HTTP endpoint; stderr:\n%s", stderr)
	}
}

func TestSESQuotaJSON(t *testing.T) {
	emulator := sesemu.Start(t, "AWS_SES_ACCOUNT="+sesAccountJSON)
	isolatedAWS(t)

	status, stdout, stderr := runCLI(t, t.TempDir(), "", "ses", "quota", "--json", "--region", "eu-west-1", "--endpoint-url", emulator.URL)
	if status != 0 {
		t.Fatalf("ses quota --json: exit status %d: %s", status, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	want := map[string]any{
		"max24HourSend":           200.0,
		"maxSendRate":             1.0,
		"sentLast24Hours":         17.0,
		"productionAccessEnabled": false,
		"sandbox":                 true,
		"sendingEnabled":          true,
		"enforcementStatus":       "PROBATION",
		"engagementMetrics":       false,
	}
	for key, value := range want {
		if got[key] != value {
			t.Errorf("%s = %v, want %v", key, got[key], value)
		}
	}
}

func TestSESQuotaWithoutAccount(t *testing.T) {
	emulator := sesemu.Start(t)
	isolatedAWS(t)

	status, _, stderr := runCLI(t, t.TempDir(), "", "ses", "quota", "--region", "eu-west-1", "--endpoint-url", emulator.URL)
	if status != 1 {
		t.Fatalf("ses quota: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "sealmail: failed to call SES GetAccount") || !strings.Contains(stderr, "HTTP 400") {
		t.Errorf("stderr does not say that GetAccount failed with HTTP 400:\n%s", stderr)
	}
}

func TestSESRequireTLSEmulatorUnsupported(t *testing.T) {
	emulator := sesemu.Start(t)
	isolatedAWS(t)

	status, _, stderr := runCLI(t, t.TempDir(), "", "ses", "require-tls", "--region", "eu-west-1", "--endpoint-url", emulator.URL, "statements")
	if status != 1 {
		t.Fatalf("ses require-tls: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	if !strings.Contains(stderr, "does not implement GetConfigurationSet") {
		t.Errorf("stderr does not say that the endpoint lacks GetConfigurationSet:\n%s", stderr)
	}
}

// configSetEndpoint is a fake SES endpoint on 127.0.0.1 with one
// configuration set named "statements"; it records the bodies of PUT
// requests.
type configSetEndpoint struct {
	set, destinations string

	mu   sync.Mutex
	puts []string
}

func (e *configSetEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	const prefix = "/v2/email/configuration-sets/statements"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		io.WriteString(w, e.set)
	case r.Method == http.MethodGet && r.URL.Path == prefix+"/event-destinations":
		io.WriteString(w, e.destinations)
	case r.Method == http.MethodPut && r.URL.Path == prefix+"/delivery-options":
		e.mu.Lock()
		e.puts = append(e.puts, string(body))
		e.mu.Unlock()
		io.WriteString(w, `{}`)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/email/account":
		io.WriteString(w, `{"SendQuota":{"MaxSendRate":14},"ProductionAccessEnabled":true,"SendingEnabled":true}`)
	default:
		w.Header().Set("X-Amzn-ErrorType", "NotFoundException")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Configuration set does not exist."}`)
	}
}

func (e *configSetEndpoint) PUTs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.puts...)
}

func startConfigSetEndpoint(t *testing.T, set, destinations string) (*configSetEndpoint, string) {
	t.Helper()
	e := &configSetEndpoint{set: set, destinations: destinations}
	server := httptest.NewServer(e)
	t.Cleanup(server.Close)
	return e, server.URL
}

func TestSESRequireTLS(t *testing.T) {
	isolatedAWS(t)
	endpoint, url := startConfigSetEndpoint(t, `{"DeliveryOptions":{"SendingPoolName":"pool-a","TlsPolicy":"OPTIONAL"}}`, `{"EventDestinations":[]}`)

	status, stdout, stderr := runCLI(t, t.TempDir(), "", "ses", "require-tls", "--region", "eu-west-1", "--endpoint-url", url, "statements")
	if status != 0 {
		t.Fatalf("ses require-tls: exit status %d: %s", status, stderr)
	}
	want := "configuration set statements: changed the TLS policy from OPTIONAL to REQUIRE\nkept the sending pool pool-a\n"
	if stdout != want {
		t.Errorf("output = %q, want %q", stdout, want)
	}
	puts := endpoint.PUTs()
	if len(puts) != 1 || puts[0] != `{"SendingPoolName":"pool-a","TlsPolicy":"REQUIRE"}` {
		t.Errorf("PUT bodies = %q, want one that keeps the pool and sets REQUIRE", puts)
	}
}

func TestSESRequireTLSUnchanged(t *testing.T) {
	isolatedAWS(t)
	endpoint, url := startConfigSetEndpoint(t, `{"DeliveryOptions":{"TlsPolicy":"REQUIRE"}}`, `{"EventDestinations":[]}`)

	status, stdout, stderr := runCLI(t, t.TempDir(), "", "ses", "require-tls", "--region", "eu-west-1", "--endpoint-url", url, "statements")
	if status != 0 {
		t.Fatalf("ses require-tls: exit status %d: %s", status, stderr)
	}
	if !strings.Contains(stdout, "REQUIRE already; nothing changed") {
		t.Errorf("output does not say that nothing changed:\n%s", stdout)
	}
	if puts := endpoint.PUTs(); len(puts) != 0 {
		t.Errorf("got %d PUT requests, want none", len(puts))
	}
}

func TestSESCheck(t *testing.T) {
	tests := []struct {
		name         string
		set          string
		destinations string
		status       int
		want         []string
	}{
		{
			name:         "clean",
			set:          `{"DeliveryOptions":{"TlsPolicy":"REQUIRE"}}`,
			destinations: `{"EventDestinations":[{"Name":"bounces","Enabled":true,"MatchingEventTypes":["BOUNCE"]}]}`,
			status:       0,
			want:         []string{"  TLS policy:             REQUIRE\n", "  open tracking:          off\n", "  VDM engagement metrics: not set; the account's setting is off\n", "no problems found\n"},
		},
		{
			name:         "tracking",
			set:          `{"DeliveryOptions":{"TlsPolicy":"REQUIRE"}}`,
			destinations: `{"EventDestinations":[{"Name":"engagement","Enabled":true,"MatchingEventTypes":["OPEN","CLICK"]}]}`,
			status:       1,
			want:         []string{"  open tracking:          on (event destinations engagement)\n", "problem: open tracking is on", "problem: click tracking is on"},
		},
		{
			name:         "optional TLS",
			set:          `{}`,
			destinations: `{"EventDestinations":[]}`,
			status:       1,
			want:         []string{"  TLS policy:             OPTIONAL\n", `problem: the TLS policy is OPTIONAL`, `sealmail ses require-tls statements`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolatedAWS(t)
			endpoint, url := startConfigSetEndpoint(t, tt.set, tt.destinations)

			status, stdout, stderr := runCLI(t, t.TempDir(), "", "ses", "check", "--region", "eu-west-1", "--endpoint-url", url, "statements")
			if status != tt.status {
				t.Fatalf("ses check: exit status %d, want %d; stderr:\n%s", status, tt.status, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			if tt.status != 0 && !strings.Contains(stderr, "sealmail: configuration set statements has") {
				t.Errorf("stderr does not sum up the problems:\n%s", stderr)
			}
			if puts := endpoint.PUTs(); len(puts) != 0 {
				t.Errorf("ses check sent %d PUT requests, want none", len(puts))
			}
		})
	}
}

func TestSESCheckJSON(t *testing.T) {
	isolatedAWS(t)
	_, url := startConfigSetEndpoint(t, `{"DeliveryOptions":{"TlsPolicy":"OPTIONAL"}}`, `{"EventDestinations":[{"Name":"clicks","Enabled":true,"MatchingEventTypes":["CLICK"]}]}`)

	status, stdout, stderr := runCLI(t, t.TempDir(), "", "ses", "check", "--json", "--region", "eu-west-1", "--endpoint-url", url, "statements")
	if status != 1 {
		t.Fatalf("ses check --json: exit status %d, want 1; stderr:\n%s", status, stderr)
	}
	var got struct {
		TLSPolicy     string   `json:"tlsPolicy"`
		ClickTracking []string `json:"clickTracking"`
		Problems      []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if got.TLSPolicy != "OPTIONAL" || strings.Join(got.ClickTracking, ",") != "clicks" || len(got.Problems) != 2 {
		t.Errorf("JSON = %+v, want OPTIONAL, click tracking by clicks and 2 problems", got)
	}
}

func TestSESUsageErrors(t *testing.T) {
	isolatedAWS(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no subcommand", args: []string{"ses"}, want: "missing subcommand"},
		{name: "unknown subcommand", args: []string{"ses", "verify"}, want: `unknown ses subcommand "verify"`},
		{name: "check without set", args: []string{"ses", "check", "--region", "eu-west-1"}, want: "missing configuration set name"},
		{name: "two sets", args: []string{"ses", "require-tls", "--region", "eu-west-1", "a", "b"}, want: `unexpected argument "b"`},
		{name: "invalid set", args: []string{"ses", "check", "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:9", "a/b"}, want: `invalid configuration set "a/b"`},
		{name: "quota argument", args: []string{"ses", "quota", "extra"}, want: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, stderr := runCLI(t, t.TempDir(), "", tt.args...)
			if status != 2 {
				t.Errorf("exit status = %d, want 2; stderr:\n%s", status, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
		})
	}
}
