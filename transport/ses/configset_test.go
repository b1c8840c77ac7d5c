package ses_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sealmail/sealmail/transport/ses"
)

// configurationSetSES is an httptest server on 127.0.0.1 that serves one
// configuration set, its event destinations and the account, and records
// every request.
type configurationSetSES struct {
	server *httptest.Server
	// name is the configuration set it serves. Any other name is not found.
	name         string
	set          string
	destinations string
	account      string

	mu       sync.Mutex
	requests []recordedRequest
}

func newConfigurationSetSES(t *testing.T, name, set, destinations, account string) *configurationSetSES {
	t.Helper()
	f := &configurationSetSES{name: name, set: set, destinations: destinations, account: account}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *configurationSetSES) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recordedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	prefix := "/v2/email/configuration-sets/" + f.name
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/email/account" && f.account != "":
		io.WriteString(w, f.account)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/email/account":
		w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"not authorized to perform ses:GetAccount"}`)
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		io.WriteString(w, f.set)
	case r.Method == http.MethodGet && r.URL.Path == prefix+"/event-destinations":
		io.WriteString(w, f.destinations)
	case r.Method == http.MethodPut && r.URL.Path == prefix+"/delivery-options":
		io.WriteString(w, `{}`)
	case strings.HasPrefix(r.URL.Path, "/v2/email/configuration-sets/"):
		w.Header().Set("X-Amzn-ErrorType", "NotFoundException")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Configuration set does not exist."}`)
	default:
		http.Error(w, "unexpected request", http.StatusNotFound)
	}
}

func (f *configurationSetSES) Requests() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

// puts returns the PUT requests received.
func (f *configurationSetSES) puts() []recordedRequest {
	var puts []recordedRequest
	for _, r := range f.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r)
		}
	}
	return puts
}

func TestRequireTLSKeepsDeliveryOptions(t *testing.T) {
	set := `{"ConfigurationSetName":"statements","DeliveryOptions":{"SendingPoolName":"pool-a","MaxDeliverySeconds":600,"TlsPolicy":"OPTIONAL"}}`
	fake := newConfigurationSetSES(t, "statements", set, `{"EventDestinations":[]}`, "")
	tr := newTestTransport(t, fake.server.URL, ses.Options{})

	change, err := tr.RequireTLS(context.Background(), "statements")
	if err != nil {
		t.Fatalf("RequireTLS: %v", err)
	}
	if !change.Changed || change.Previous != "OPTIONAL" {
		t.Errorf("TLSChange = %+v, want a change from OPTIONAL", change)
	}
	if change.SendingPoolName != "pool-a" || change.MaxDeliverySeconds == nil || *change.MaxDeliverySeconds != 600 {
		t.Errorf("TLSChange = %+v, want the pool and delivery time kept", change)
	}

	puts := fake.puts()
	if len(puts) != 1 {
		t.Fatalf("got %d PUT requests, want 1", len(puts))
	}
	if puts[0].Path != "/v2/email/configuration-sets/statements/delivery-options" {
		t.Errorf("PUT path = %q", puts[0].Path)
	}
	const want = `{"MaxDeliverySeconds":600,"SendingPoolName":"pool-a","TlsPolicy":"REQUIRE"}`
	if string(puts[0].Body) != want {
		t.Errorf("PUT body = %s, want %s", puts[0].Body, want)
	}
}

func TestRequireTLSWithoutDeliveryOptions(t *testing.T) {
	fake := newConfigurationSetSES(t, "plain", `{"ConfigurationSetName":"plain"}`, `{"EventDestinations":[]}`, "")
	tr := newTestTransport(t, fake.server.URL, ses.Options{})

	change, err := tr.RequireTLS(context.Background(), "plain")
	if err != nil {
		t.Fatalf("RequireTLS: %v", err)
	}
	if !change.Changed || change.Previous != "OPTIONAL" {
		t.Errorf("TLSChange = %+v, want a change from the default OPTIONAL", change)
	}
	puts := fake.puts()
	if len(puts) != 1 || string(puts[0].Body) != `{"TlsPolicy":"REQUIRE"}` {
		t.Errorf("PUT requests = %+v, want one with the body {\"TlsPolicy\":\"REQUIRE\"}", puts)
	}
}

func TestRequireTLSAlreadyRequired(t *testing.T) {
	set := `{"ConfigurationSetName":"strict","DeliveryOptions":{"TlsPolicy":"REQUIRE"}}`
	fake := newConfigurationSetSES(t, "strict", set, `{"EventDestinations":[]}`, "")
	tr := newTestTransport(t, fake.server.URL, ses.Options{})

	change, err := tr.RequireTLS(context.Background(), "strict")
	if err != nil {
		t.Fatalf("RequireTLS: %v", err)
	}
	if change.Changed || change.Previous != "REQUIRE" {
		t.Errorf("TLSChange = %+v, want no change", change)
	}
	if puts := fake.puts(); len(puts) != 0 {
		t.Errorf("got %d PUT requests, want none", len(puts))
	}
}

func TestRequireTLSNotFound(t *testing.T) {
	fake := newConfigurationSetSES(t, "statements", `{}`, `{}`, "")
	tr := newTestTransport(t, fake.server.URL, ses.Options{})

	_, err := tr.RequireTLS(context.Background(), "missing-set")
	var apiErr *ses.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an *APIError", err)
	}
	if apiErr.Code != "NotFoundException" || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("APIError = %+v, want NotFoundException, HTTP 404", apiErr)
	}
	if !strings.Contains(err.Error(), `configuration set "missing-set" does not exist`) {
		t.Errorf("error %q does not name the missing configuration set", err)
	}
}

func TestRequireTLSInvalidName(t *testing.T) {
	fake := newConfigurationSetSES(t, "statements", `{}`, `{}`, "")
	tr := newTestTransport(t, fake.server.URL, ses.Options{})

	for _, name := range []string{"", "a/b", "set\nX: 1"} {
		_, err := tr.RequireTLS(context.Background(), name)
		var optErr *ses.OptionError
		if !errors.As(err, &optErr) {
			t.Errorf("RequireTLS(%q) error = %v, want an *OptionError", name, err)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("got %d requests, want none", n)
	}
}

func TestCheckConfigurationSet(t *testing.T) {
	const destinations = `{"EventDestinations":[` +
		`{"Name":"engagement","Enabled":true,"MatchingEventTypes":["SEND","OPEN","CLICK"]},` +
		`{"Name":"clicks-old","Enabled":false,"MatchingEventTypes":["CLICK"]},` +
		`{"Name":"bounces","Enabled":true,"MatchingEventTypes":["BOUNCE","COMPLAINT"]}]}`
	const vdmAccount = `{"SendQuota":{"MaxSendRate":14},"ProductionAccessEnabled":true,"SendingEnabled":true,` +
		`"VdmAttributes":{"VdmEnabled":"ENABLED","DashboardAttributes":{"EngagementMetrics":"ENABLED"}}}`

	tests := []struct {
		name          string
		set           string
		destinations  string
		account       string
		tls           string
		open, click   string
		engagement    bool
		problems      []string
		accountFailed bool
	}{
		{
			name:         "clean",
			set:          `{"DeliveryOptions":{"TlsPolicy":"REQUIRE"},"VdmOptions":{"DashboardOptions":{"EngagementMetrics":"DISABLED"}}}`,
			destinations: `{"EventDestinations":[{"Name":"bounces","Enabled":true,"MatchingEventTypes":["BOUNCE"]}]}`,
			account:      vdmAccount,
			tls:          "REQUIRE",
		},
		{
			name:         "tracking and optional TLS",
			set:          `{"DeliveryOptions":{"TlsPolicy":"OPTIONAL"}}`,
			destinations: destinations,
			account:      vdmAccount,
			tls:          "OPTIONAL",
			open:         "engagement",
			click:        "engagement",
			engagement:   true,
			problems:     []string{"TLS policy is OPTIONAL", "open tracking is on (event destinations engagement)", "click tracking is on (event destinations engagement)", "engagement metrics are on (the account's setting)"},
		},
		{
			name:          "no GetAccount permission",
			set:           `{"DeliveryOptions":{"TlsPolicy":"REQUIRE"},"VdmOptions":{"DashboardOptions":{"EngagementMetrics":"ENABLED"}}}`,
			destinations:  `{"EventDestinations":[]}`,
			tls:           "REQUIRE",
			engagement:    true,
			problems:      []string{"engagement metrics are on (the configuration set's setting)"},
			accountFailed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newConfigurationSetSES(t, "statements", tt.set, tt.destinations, tt.account)
			tr := newTestTransport(t, fake.server.URL, ses.Options{})

			r, err := tr.CheckConfigurationSet(context.Background(), "statements")
			if err != nil {
				t.Fatalf("CheckConfigurationSet: %v", err)
			}
			if r.TLSPolicy != tt.tls {
				t.Errorf("TLSPolicy = %q, want %q", r.TLSPolicy, tt.tls)
			}
			if got := strings.Join(r.OpenTracking, ","); got != tt.open {
				t.Errorf("OpenTracking = %q, want %q", got, tt.open)
			}
			if got := strings.Join(r.ClickTracking, ","); got != tt.click {
				t.Errorf("ClickTracking = %q, want %q", got, tt.click)
			}
			if r.EngagementTracking() != tt.engagement {
				t.Errorf("EngagementTracking() = %v, want %v", r.EngagementTracking(), tt.engagement)
			}
			if (r.AccountErr != nil) != tt.accountFailed {
				t.Errorf("AccountErr = %v, want an error: %v", r.AccountErr, tt.accountFailed)
			}

			problems := r.Problems()
			if len(problems) != len(tt.problems) {
				t.Fatalf("Problems() = %q, want %d problems", problems, len(tt.problems))
			}
			for i, want := range tt.problems {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %d = %q, want one containing %q", i, problems[i], want)
				}
			}
			if puts := fake.puts(); len(puts) != 0 {
				t.Errorf("CheckConfigurationSet sent %d PUT requests, want none", len(puts))
			}
		})
	}
}
