package ses_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/ses"
)

// testMessage is a small raw message with CRLF line endings.
const testMessage = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: Quarterly statement\r\n" +
	"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Hello Bob.\r\n"

// recordedRequest is one request the fake SES endpoint received.
type recordedRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// fakeResponse is the response of the fake SES endpoint to one request.
type fakeResponse struct {
	Status    int
	ErrorType string
	Message   string
}

// fakeAccount is the GetAccount response of fakeSES: a rate high enough
// that pacing does not slow the tests down.
const fakeAccount = `{"SendQuota":{"Max24HourSend":50000,"MaxSendRate":1000,"SentLast24Hours":0},"ProductionAccessEnabled":true,"SendingEnabled":true}`

// fakeSES is an httptest server on 127.0.0.1 that records every request and
// returns the queued responses, then success. It responds to GetAccount with
// fakeAccount and only counts those requests, apart from the others.
type fakeSES struct {
	server *httptest.Server

	mu              sync.Mutex
	requests        []recordedRequest
	responses       []fakeResponse
	accountRequests int
}

func newFakeSES(t *testing.T, responses ...fakeResponse) *fakeSES {
	t.Helper()
	f := &fakeSES{responses: responses}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeSES) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodGet && r.URL.Path == "/v2/email/account" {
		f.mu.Lock()
		f.accountRequests++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, fakeAccount)
		return
	}

	f.mu.Lock()
	f.requests = append(f.requests, recordedRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	resp := fakeResponse{Status: http.StatusOK}
	if len(f.responses) > 0 {
		resp = f.responses[0]
		f.responses = f.responses[1:]
	}
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if resp.Status == http.StatusOK {
		fmt.Fprintf(w, `{"MessageId":"0100018e-test-%d"}`, len(f.requests))
		return
	}
	if resp.ErrorType != "" {
		w.Header().Set("X-Amzn-ErrorType", resp.ErrorType)
	}
	w.WriteHeader(resp.Status)
	fmt.Fprintf(w, `{"message":%q}`, resp.Message)
}

func (f *fakeSES) Requests() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

// isolateAWSEnv keeps the developer's AWS configuration and any instance
// metadata service out of the test.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SESV2", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
}

// newTestTransport makes a Transport aimed at endpoint with static fake
// credentials and a short backoff.
func newTestTransport(t *testing.T, endpoint string, opts ses.Options) *ses.Transport {
	t.Helper()
	isolateAWSEnv(t)
	opts.Region = "eu-central-1"
	opts.EndpointURL = endpoint
	opts.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "fake-secret-for-tests", "")
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 20 * time.Millisecond
	}
	tr, err := ses.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

// sendEmailBody is the part of the SendEmail request body the tests check.
type sendEmailBody struct {
	Content struct {
		Raw struct {
			Data string
		}
	}
	Destination struct {
		ToAddresses  []string
		CcAddresses  []string
		BccAddresses []string
	}
	FromEmailAddress     *string
	ConfigurationSetName string
	EmailTags            []struct{ Name, Value string }
}

func TestSendRecordedRequest(t *testing.T) {
	fake := newFakeSES(t)
	tr := newTestTransport(t, fake.server.URL, ses.Options{
		ConfigurationSet: "statements-eu",
		Tags:             []ses.Tag{{Name: "campaign", Value: "q1-2026"}, {Name: "kind", Value: "statement"}},
	})
	env := transport.Envelope{
		From:       "alice@example.com",
		Recipients: []string{"bob@example.com", "carol@example.net"}, // carol is a Bcc recipient
	}

	id, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != "0100018e-test-1" {
		t.Errorf("message ID = %q, want %q", id, "0100018e-test-1")
	}

	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.Method != http.MethodPost || req.Path != "/v2/email/outbound-emails" {
		t.Errorf("request = %s %s, want POST /v2/email/outbound-emails", req.Method, req.Path)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		t.Errorf("Authorization = %q, want a SigV4 signature", req.Header.Get("Authorization"))
	}

	var body sendEmailBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("failed to parse the request body: %v\n%s", err, req.Body)
	}
	raw, err := base64.StdEncoding.DecodeString(body.Content.Raw.Data)
	if err != nil {
		t.Fatalf("Content.Raw.Data is not base64: %v", err)
	}
	if !bytes.Equal(raw, []byte(testMessage)) {
		t.Errorf("raw data differs from the input:\ngot  %q\nwant %q", raw, testMessage)
	}
	if got := strings.Join(body.Destination.ToAddresses, ","); got != "bob@example.com,carol@example.net" {
		t.Errorf("Destination.ToAddresses = %q, want every envelope recipient", got)
	}
	if len(body.Destination.CcAddresses)+len(body.Destination.BccAddresses) != 0 {
		t.Errorf("Destination has Cc or Bcc addresses: %+v", body.Destination)
	}
	if body.FromEmailAddress != nil {
		t.Errorf("FromEmailAddress = %q, want it absent", *body.FromEmailAddress)
	}
	if bytes.Contains(req.Body, []byte("FromEmailAddress")) {
		t.Errorf("request body names FromEmailAddress: %s", req.Body)
	}
	if body.ConfigurationSetName != "statements-eu" {
		t.Errorf("ConfigurationSetName = %q, want %q", body.ConfigurationSetName, "statements-eu")
	}
	if got := fmt.Sprint(body.EmailTags); got != "[{campaign q1-2026} {kind statement}]" {
		t.Errorf("EmailTags = %s", got)
	}
}

func TestSendRetriesThrottling(t *testing.T) {
	fake := newFakeSES(t,
		fakeResponse{Status: http.StatusTooManyRequests, ErrorType: "TooManyRequestsException", Message: "Maximum sending rate exceeded."},
		fakeResponse{Status: http.StatusTooManyRequests, ErrorType: "TooManyRequestsException", Message: "Maximum sending rate exceeded."},
	)
	tr := newTestTransport(t, fake.server.URL, ses.Options{})
	env := transport.Envelope{From: "alice@example.com", Recipients: []string{"bob@example.com"}}

	id, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != "0100018e-test-3" {
		t.Errorf("message ID = %q, want the one of the third request", id)
	}
	if n := len(fake.Requests()); n != 3 {
		t.Errorf("got %d requests, want 3", n)
	}
}

func TestSendThrottledUntilAttemptsRunOut(t *testing.T) {
	var responses []fakeResponse
	for range 10 {
		responses = append(responses, fakeResponse{Status: http.StatusBadRequest, ErrorType: "Throttling", Message: "Maximum sending rate exceeded."})
	}
	fake := newFakeSES(t, responses...)
	tr := newTestTransport(t, fake.server.URL, ses.Options{MaxAttempts: 4})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error = %v, want a *SendError", err)
	}
	if n := len(fake.Requests()); n != 4 {
		t.Errorf("got %d requests, want 4", n)
	}
	if !sendErr.Throttled {
		t.Errorf("Throttled = false, want true")
	}
	if !sendErr.Temporary() {
		t.Errorf("Temporary() = false, want true")
	}
	if sendErr.Uncertain {
		t.Errorf("Uncertain = true, want false")
	}
}

func TestSendNoRetry(t *testing.T) {
	tests := []struct {
		name          string
		response      fakeResponse
		code          string
		temporary     bool
		uncertain     bool
		quotaExceeded bool
		setup         bool
		hint          string
	}{
		{
			name:      "internal error",
			response:  fakeResponse{Status: http.StatusInternalServerError, ErrorType: "InternalFailure", Message: "internal failure"},
			code:      "InternalFailure",
			uncertain: true,
		},
		{
			name:      "unavailable without code",
			response:  fakeResponse{Status: http.StatusServiceUnavailable},
			code:      "UnknownError", // the SDK's code when the response has none
			uncertain: true,
		},
		{
			name:     "message rejected",
			response: fakeResponse{Status: http.StatusBadRequest, ErrorType: "MessageRejected", Message: "Email address is not verified."},
			code:     "MessageRejected",
		},
		{
			name:     "identity not verified",
			response: fakeResponse{Status: http.StatusBadRequest, ErrorType: "MessageRejected", Message: "Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: alice@example.com"},
			code:     "MessageRejected",
			hint:     "in the SES sandbox every recipient",
		},
		{
			name:     "mail from domain not verified",
			response: fakeResponse{Status: http.StatusBadRequest, ErrorType: "MailFromDomainNotVerifiedException", Message: "Mail-From domain not verified."},
			code:     "MailFromDomainNotVerifiedException",
			hint:     "verify the MAIL FROM domain",
		},
		{
			name:     "account suspended",
			response: fakeResponse{Status: http.StatusBadRequest, ErrorType: "AccountSuspendedException", Message: "Account suspended."},
			code:     "AccountSuspendedException",
			hint:     "reputation dashboard",
		},
		{
			name:     "sending paused",
			response: fakeResponse{Status: http.StatusBadRequest, ErrorType: "SendingPausedException", Message: "Sending paused for this configuration set."},
			code:     "SendingPausedException",
			hint:     "resume it in SES",
		},
		{
			name:     "bad request",
			response: fakeResponse{Status: http.StatusBadRequest, ErrorType: "BadRequestException", Message: "Invalid configuration set name."},
			code:     "BadRequestException",
		},
		{
			name:          "limit exceeded",
			response:      fakeResponse{Status: http.StatusBadRequest, ErrorType: "LimitExceededException", Message: "Daily message quota exceeded."},
			code:          "LimitExceededException",
			temporary:     true,
			quotaExceeded: true,
		},
		{
			name:     "unknown access key",
			response: fakeResponse{Status: http.StatusForbidden, ErrorType: "UnrecognizedClientException", Message: "The security token included in the request is invalid."},
			code:     "UnrecognizedClientException",
			setup:    true,
		},
		{
			name:     "configuration set not found",
			response: fakeResponse{Status: http.StatusNotFound, ErrorType: "NotFoundException", Message: "Configuration set <statements> does not exist."},
			code:     "NotFoundException",
			setup:    true,
		},
		{
			name:          "daily quota as throttling",
			response:      fakeResponse{Status: http.StatusBadRequest, ErrorType: "Throttling", Message: "Daily message quota exceeded."},
			code:          "Throttling",
			temporary:     true,
			quotaExceeded: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSES(t, tt.response, tt.response, tt.response)
			tr := newTestTransport(t, fake.server.URL, ses.Options{})
			env := transport.Envelope{Recipients: []string{"bob@example.com"}}

			_, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
			var sendErr *ses.SendError
			if !errors.As(err, &sendErr) {
				t.Fatalf("error = %v, want a *SendError", err)
			}
			if sendErr.Code != tt.code {
				t.Errorf("Code = %q, want %q", sendErr.Code, tt.code)
			}
			if sendErr.StatusCode != tt.response.Status {
				t.Errorf("StatusCode = %d, want %d", sendErr.StatusCode, tt.response.Status)
			}
			if sendErr.Throttled {
				t.Errorf("Throttled = true, want false")
			}
			if sendErr.Temporary() != tt.temporary {
				t.Errorf("Temporary() = %v, want %v", sendErr.Temporary(), tt.temporary)
			}
			if sendErr.Uncertain != tt.uncertain {
				t.Errorf("Uncertain = %v, want %v", sendErr.Uncertain, tt.uncertain)
			}
			if sendErr.QuotaExceeded != tt.quotaExceeded {
				t.Errorf("QuotaExceeded = %v, want %v", sendErr.QuotaExceeded, tt.quotaExceeded)
			}
			if transport.SetupFailed(err) != tt.setup {
				t.Errorf("transport.SetupFailed = %v, want %v", transport.SetupFailed(err), tt.setup)
			}
			if tt.code != "" && !strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %q does not name the code %q", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("error %q lacks the hint %q", err, tt.hint)
			}
		})
	}
}

func TestSendConnectionLostNotRetried(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		// Drop the connection after the request arrived, without an answer.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(server.Close)
	tr := newTestTransport(t, server.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error = %v, want a *SendError", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 1 {
		t.Errorf("got %d requests, want 1", requests)
	}
	if !sendErr.Uncertain {
		t.Errorf("Uncertain = false, want true")
	}
	if sendErr.Temporary() {
		t.Errorf("Temporary() = true, want false")
	}
	if sendErr.Setup {
		t.Errorf("Setup = true for a connection lost after the request, want false")
	}
}

func TestSendRejectedBeforeRequest(t *testing.T) {
	many := make([]string, ses.MaxRecipients+1)
	for i := range many {
		many[i] = fmt.Sprintf("r%d@example.com", i)
	}
	huge := testMessage + strings.Repeat(strings.Repeat("a", 76)+"\r\n", ses.MaxRawSize/78+1)

	tests := []struct {
		name       string
		recipients []string
		raw        string
		want       string
	}{
		{name: "no recipients", raw: testMessage, want: "missing envelope recipients"},
		{name: "too many recipients", recipients: many, raw: testMessage, want: "too many envelope recipients: 51"},
		{name: "recipient with LF", recipients: []string{"bob@example.com\nBcc: eve@example.com"}, raw: testMessage, want: "invalid envelope recipient"},
		{name: "too large", recipients: []string{"bob@example.com"}, raw: huge, want: "larger than the SES maximum"},
		{name: "bcc field", recipients: []string{"bob@example.com"}, raw: "Bcc: carol@example.net\r\n" + testMessage, want: "bcc header field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSES(t)
			tr := newTestTransport(t, fake.server.URL, ses.Options{})
			env := transport.Envelope{From: "alice@example.com", Recipients: tt.recipients}

			_, err := tr.Send(context.Background(), env, strings.NewReader(tt.raw))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("got %d requests, want none", n)
			}
		})
	}
}

func TestNewEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		insecure bool
		wantErr  string
	}{
		{endpoint: "", insecure: false},
		{endpoint: "https://email.eu-central-1.amazonaws.com", insecure: false},
		{endpoint: "http://127.0.0.1:4566", insecure: true},
		{endpoint: "http://127.1.2.3:4566", insecure: true},
		{endpoint: "http://[::1]:4566", insecure: true},
		{endpoint: "http://localhost:8005", insecure: true},
		{endpoint: "http://example.com", wantErr: "use https://"},
		{endpoint: "http://10.0.0.1:8005", wantErr: "use https://"},
		{endpoint: "http://127.0.0.1.example.com", wantErr: "use https://"},
		{endpoint: "ftp://127.0.0.1", wantErr: "scheme must be https"},
		{endpoint: "https://", wantErr: "missing host"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			isolateAWSEnv(t)
			tr, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1", EndpointURL: tt.endpoint})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.endpoint) {
					t.Errorf("error %q does not name the endpoint", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tr.Endpoint() != tt.endpoint {
				t.Errorf("Endpoint() = %q, want %q", tr.Endpoint(), tt.endpoint)
			}
			if tr.Insecure() != tt.insecure {
				t.Errorf("Insecure() = %v, want %v", tr.Insecure(), tt.insecure)
			}
		})
	}
}

func TestNewEndpointFromEnvironment(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_SESV2", "http://example.com:8005")

	_, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1"})
	if err == nil || !strings.Contains(err.Error(), "http://example.com:8005") {
		t.Fatalf("error = %v, want one naming the endpoint of AWS_ENDPOINT_URL_SESV2", err)
	}

	t.Setenv("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:8005")
	tr, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tr.Endpoint() != "http://127.0.0.1:8005" || !tr.Insecure() {
		t.Errorf("Endpoint() = %q, Insecure() = %v, want the loopback endpoint, insecure", tr.Endpoint(), tr.Insecure())
	}
}

func TestNewMissingRegion(t *testing.T) {
	isolateAWSEnv(t)

	_, err := ses.New(context.Background(), ses.Options{})
	if err == nil || !strings.Contains(err.Error(), "missing AWS region") {
		t.Fatalf("error = %v, want a missing region", err)
	}
}

func TestNewInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts ses.Options
		want string
	}{
		{name: "configuration set with LF", opts: ses.Options{ConfigurationSet: "set\nX-Evil: 1"}, want: "invalid configuration set"},
		{name: "configuration set with space", opts: ses.Options{ConfigurationSet: "my set"}, want: "invalid configuration set"},
		{name: "configuration set too long", opts: ses.Options{ConfigurationSet: strings.Repeat("a", 65)}, want: "longer than 64"},
		{name: "tag name with CR", opts: ses.Options{Tags: []ses.Tag{{Name: "a\rb", Value: "v"}}}, want: "invalid tag name"},
		{name: "tag name with NUL", opts: ses.Options{Tags: []ses.Tag{{Name: "a\x00", Value: "v"}}}, want: "invalid tag name"},
		{name: "tag value with LF", opts: ses.Options{Tags: []ses.Tag{{Name: "kind", Value: "a\nb"}}}, want: `of tag "kind"`},
		{name: "tag value with dot", opts: ses.Options{Tags: []ses.Tag{{Name: "kind", Value: "a.b"}}}, want: `of tag "kind"`},
		{name: "empty tag name", opts: ses.Options{Tags: []ses.Tag{{Name: "", Value: "v"}}}, want: "empty"},
		{name: "tag value too long", opts: ses.Options{Tags: []ses.Tag{{Name: "kind", Value: strings.Repeat("v", 257)}}}, want: "longer than 256"},
		{name: "negative attempts", opts: ses.Options{MaxAttempts: -1}, want: "invalid max attempts"},
		{name: "negative send rate", opts: ses.Options{MaxSendRate: -2}, want: "invalid max send rate"},
		{name: "duplicate tag name", opts: ses.Options{Tags: []ses.Tag{{Name: "k", Value: "v"}, {Name: "k", Value: "w"}}}, want: `duplicate tag name "k"`},
		{name: "region with space", opts: ses.Options{Region: "eu west 1"}, want: "invalid AWS region"},
		{name: "endpoint with password", opts: ses.Options{EndpointURL: "http://user:secret@127.0.0.1:8005"}, want: "must not contain a user name or password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWSEnv(t)
			if tt.opts.Region == "" {
				tt.opts.Region = "eu-central-1"
			}

			_, err := ses.New(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			var optErr *ses.OptionError
			if !errors.As(err, &optErr) {
				t.Errorf("error %v is not an *ses.OptionError", err)
			}
			if strings.Contains(fmt.Sprint(err), "secret") {
				t.Errorf("error %v shows the password of the endpoint URL", err)
			}
		})
	}
}

func TestNewAcceptsLongestTag(t *testing.T) {
	isolateAWSEnv(t)
	tag := ses.Tag{Name: strings.Repeat("n", 256), Value: "A-z_0-9"}

	if _, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1", Tags: []ses.Tag{tag}}); err != nil {
		t.Fatalf("New: %v", err)
	}
}

func TestSendTooLargeForEndpoint(t *testing.T) {
	fake := newFakeSES(t, fakeResponse{Status: http.StatusRequestEntityTooLarge})
	tr := newTestTransport(t, fake.server.URL, ses.Options{})
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err := tr.Send(context.Background(), env, strings.NewReader(testMessage))
	if err == nil || !strings.Contains(err.Error(), "too large (HTTP 413)") {
		t.Fatalf("error = %v, want one saying the request was too large", err)
	}
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) || sendErr.Uncertain {
		t.Errorf("error %v is uncertain or not a *SendError; a 413 means SES did not accept the message", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestSendWithoutCredentials(t *testing.T) {
	fake := newFakeSES(t)
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	tr, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1", EndpointURL: fake.server.URL})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err = tr.Send(context.Background(), env, strings.NewReader(testMessage))
	if err == nil || !strings.Contains(err.Error(), "no AWS credentials found") {
		t.Fatalf("error = %v, want one saying no credentials were found", err)
	}
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) || !sendErr.Unsent || sendErr.Uncertain {
		t.Errorf("error %v is not Unsent; no request left the machine", err)
	}
	if !transport.SetupFailed(err) {
		t.Errorf("transport.SetupFailed(%v) = false, want true for missing credentials", err)
	}
	if strings.Contains(err.Error(), "may have accepted") {
		t.Errorf("error %q says SES may have accepted a message it never saw", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("got %d requests, want none", n)
	}
}

func TestSendCredentialChainFailure(t *testing.T) {
	fake := newFakeSES(t)
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	// A fake instance metadata service on 127.0.0.1 that refuses every
	// request, as one without a role does.
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(imds.Close)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	tr, err := ses.New(context.Background(), ses.Options{Region: "eu-central-1", EndpointURL: fake.server.URL, MaxSendRate: ses.NoPacing})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env := transport.Envelope{Recipients: []string{"bob@example.com"}}

	_, err = tr.Send(context.Background(), env, strings.NewReader(testMessage))
	var sendErr *ses.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error = %v, want a *SendError", err)
	}
	if sendErr.StatusCode != 0 || !sendErr.Unsent || sendErr.Uncertain {
		t.Errorf("SendError = %+v, want Unsent without the status of the metadata service", sendErr)
	}
	if !sendErr.Setup {
		t.Errorf("Setup = false, want true when the credential chain fails")
	}
	if !strings.Contains(err.Error(), "no AWS credentials found") {
		t.Errorf("error %q does not say that no credentials were found", err)
	}

	_, err = tr.Account(context.Background())
	var apiErr *ses.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 0 {
		t.Fatalf("Account error = %v, want an *APIError without a status", err)
	}
	if !strings.Contains(err.Error(), "no AWS credentials found") || strings.Contains(err.Error(), "permission") {
		t.Errorf("Account error %q does not say that no credentials were found, or blames a permission", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("got %d requests at the SES endpoint, want none", n)
	}
}
