// Package ses sends raw messages through the Amazon SES v2 SendEmail API
// (POST /v2/email/outbound-emails) with Content.Raw, using the official AWS
// SDK for Go v2.
//
// The common case is:
//
//	t, err := ses.New(ctx, ses.Options{Region: "eu-central-1"})
//	...
//	id, err := t.Send(ctx, transport.Envelope{From: from, Recipients: rcpts}, raw)
//
// # Where it diverges from a plain SDK call
//
//   - FromEmailAddress is never set, because SES may then replace the From
//     header field of the raw message and drop its display name. SES takes
//     the sender from the From header field instead.
//   - Destination.ToAddresses lists every envelope recipient, Bcc recipients
//     included, since the raw message carries no Bcc header field.
//   - SendEmail requests are paced to the account's maximum send rate,
//     which counts recipients per second, across every goroutine that
//     shares the Transport. [Transport.Pacing] returns the rate and its
//     source, [Options.MaxSendRate] overrides it and [Options.RateLimit]
//     caps it. [transport.FinishInFlight] lets a sender stop waiting for its turn
//     without cutting off a request that has left. At the commit point the
//     requests are spaced again by the same rate, so that any one second
//     holds the paced rate plus one request. Without that, a delay between
//     a turn and its request, such as a slow sync of a spool record, could
//     bunch them.
//   - Send calls [transport.Commit] when the HTTP client first reads the
//     request body, once the connection is up. SES cannot have accepted a
//     message before that, so an attempt that stops earlier is unsent.
//   - A message with a signed or encrypted entity in the clear is sent with
//     open and click tracking turned off for that message
//     (ConfigurationOverrides.Tracking). Otherwise SES would add a tracking
//     image to its HTML parts and rewrite their links, which breaks a clear
//     signature.
//   - Only throttling is retried. The SDK's standard retryer also retries
//     HTTP 5xx, timeouts and connection resets, but SendEmail has no
//     idempotency key, so such a retry could deliver the message twice.
//     "Daily message quota exceeded", and LimitExceededException with any
//     other message than "Maximum sending rate exceeded", mean the daily
//     quota is spent, so they are not retried either.
//   - Each attempt of each call has a time limit, [Options.RequestTimeout]
//     (60 seconds by default), because the SDK otherwise waits for as long
//     as the endpoint keeps the connection open. A SendEmail attempt that
//     times out before its request body was written sent nothing, and one
//     that times out later may have been accepted.
//   - Every raw message passes [Preflight] before the call: CRLF line endings,
//     lines of at most 998 octets (RFC 5322 section 2.1.1), no Bcc header
//     field, no empty or duplicate singleton header fields.
//   - A plain http:// endpoint is accepted only on a loopback address, for
//     emulators and tests. [Transport.Insecure] reports when one is in use.
package ses

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sealmail/sealmail/transport/internal/spacing"
)

// MaxRawSize is the largest raw message SES accepts, in bytes.
//
// NOTE: whether SES counts its 40 MB before or after the API's own base64
// encoding of Content.Raw.Data has not been checked against SES.
const MaxRawSize = 40 * 1000 * 1000

// MaxRecipients is the most envelope recipients SES accepts in one message.
const MaxRecipients = 50

// MaxTagLength is the maximum length of a tag name or value, in characters.
const MaxTagLength = 256

// DefaultMaxAttempts is the number of attempts Send makes when SES keeps
// throttling, the first one included.
const DefaultMaxAttempts = 5

// DefaultMaxBackoff is the longest delay between two attempts.
const DefaultMaxBackoff = 20 * time.Second

// Tag is a message tag (SendEmailInput.EmailTags). Name and Value may contain
// only ASCII letters, digits, underscores and dashes, at most 256 of them.
type Tag struct{ Name, Value string }

// Options configure a Transport. The zero value uses the SDK's default
// credential chain, region and endpoint, and sends without a configuration
// set or tags.
type Options struct {
	// Region is the AWS region, such as "eu-central-1". Empty means the
	// region of the environment (AWS_REGION) or of the shared profile.
	Region string

	// Profile is the shared configuration profile. Empty means the default
	// profile, or AWS_PROFILE.
	Profile string

	// EndpointURL overrides the SES endpoint. Empty means the SDK's choice,
	// which honours AWS_ENDPOINT_URL_SESV2 and AWS_ENDPOINT_URL. Whatever the
	// source, an http:// endpoint is accepted only on a loopback address.
	EndpointURL string

	// ConfigurationSet is the SES configuration set of every message. Empty
	// means none, or the identity's default configuration set.
	ConfigurationSet string

	// Tags are added to every message as EmailTags.
	Tags []Tag

	// Credentials replaces the default credential chain when set.
	Credentials aws.CredentialsProvider

	// MaxAttempts is the number of attempts when SES throttles, the first
	// one included. Zero means DefaultMaxAttempts.
	MaxAttempts int

	// MaxBackoff caps the delay between attempts. Zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration

	// MaxSendRate is the account's maximum send rate in recipients per
	// second. Send keeps to 90 percent of it, across all goroutines. Zero
	// means the MaxSendRate of GetAccount, read before the second request,
	// or DefaultMaxSendRate when GetAccount fails. NoPacing turns pacing
	// off.
	MaxSendRate float64

	// RequestTimeout bounds each attempt of each SES call, from the
	// credentials to the end of the response, without the wait for a turn
	// at the sending rate. Zero means DefaultRequestTimeout. A SendEmail
	// attempt that times out before its request body was written sent
	// nothing, and one that times out later may have been accepted.
	RequestTimeout time.Duration

	// RateLimit caps the sending rate, in recipients per second, for a
	// sender that wants to go slower than the account allows. Send keeps to
	// the lower of RateLimit and 90 percent of the maximum send rate, and
	// to RateLimit alone when MaxSendRate is NoPacing. Zero means no cap.
	RateLimit float64
}

// Transport sends through SES. It is safe for concurrent use.
type Transport struct {
	client           *sesv2.Client
	endpoint         string
	insecure         bool
	configurationSet string
	tags             []Tag

	// maxSendRate is Options.MaxSendRate, and rateLimit
	// Options.RateLimit.
	maxSendRate float64
	rateLimit   float64
	pacer       pacer
	// wire spaces the SendEmail requests again at their commit point.
	wire spacing.Gate
	// accountSem guards pacing and pacingExpires, and lets one goroutine
	// at a time call GetAccount for them.
	accountSem    chan struct{}
	pacing        *Pacing
	pacingExpires time.Time
}

// New loads the AWS configuration (region, profile, credential chain) and
// makes a Transport. It checks the options and the endpoint but does not
// call SES.
func New(ctx context.Context, opts Options) (*Transport, error) {
	if err := checkOptions(opts); err != nil {
		return nil, &OptionError{Err: err}
	}

	loadOptions := []func(*config.LoadOptions) error{
		config.WithHTTPClient(newHTTPClient()),
	}
	if opts.Region != "" {
		loadOptions = append(loadOptions, config.WithRegion(opts.Region))
	}
	if opts.Profile != "" {
		loadOptions = append(loadOptions, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Credentials != nil {
		loadOptions = append(loadOptions, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOptions...)
	if err != nil {
		return nil, fmt.Errorf("failed to load the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, &OptionError{Err: errors.New("missing AWS region: set it in the options (--region), in AWS_REGION or in the AWS profile")}
	}

	retryer := newRetryer(opts.MaxAttempts, opts.MaxBackoff)
	timeout := opts.RequestTimeout
	if timeout == 0 {
		timeout = DefaultRequestTimeout
	}
	client := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
		if opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(opts.EndpointURL)
		}
		o.APIOptions = append(o.APIOptions, addTimeout(timeout))
		o.Retryer = retryer
		// A non-zero value here, from AWS_MAX_ATTEMPTS or a profile, would
		// wrap the retryer and change the number of attempts.
		o.RetryMaxAttempts = 0
	})

	endpoint := aws.ToString(client.Options().BaseEndpoint)
	insecure, err := checkEndpoint(endpoint)
	if err != nil {
		return nil, &OptionError{Err: err}
	}

	t := &Transport{
		client:           client,
		endpoint:         endpoint,
		insecure:         insecure,
		configurationSet: opts.ConfigurationSet,
		tags:             append([]Tag(nil), opts.Tags...),
		maxSendRate:      opts.MaxSendRate,
		rateLimit:        opts.RateLimit,
		accountSem:       make(chan struct{}, 1),
	}
	return t, nil
}

// OptionError is an invalid value in [Options] or in the endpoint the
// environment sets. New returns it before any network call.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// Endpoint returns the endpoint that overrides the SDK's regional SES
// endpoint, from the options or the environment, or "" when there is none.
func (t *Transport) Endpoint() string { return t.endpoint }

// Insecure reports whether the endpoint is plain http:// on a loopback
// address, as used with an emulator, so that callers can say so.
func (t *Transport) Insecure() bool { return t.insecure }

// maxIdleConnections is the number of idle connections to SES that the HTTP
// client keeps. The SDK keeps 10, so a caller with more requests in flight,
// as at a high sending rate, would open a new TLS connection for most of
// them.
const maxIdleConnections = 64

// newHTTPClient returns the SDK's HTTP client with TLS 1.2 as the floor and
// certificate verification on.
func newHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.MinVersion = tls.VersionTLS12
		tr.TLSClientConfig.InsecureSkipVerify = false
		tr.MaxIdleConnsPerHost = maxIdleConnections
	})
}

// checkEndpoint accepts an empty endpoint, any https:// endpoint, and an
// http:// endpoint on a loopback address. It reports whether the endpoint
// is plain HTTP.
func checkEndpoint(endpoint string) (insecure bool, err error) {
	if endpoint == "" {
		return false, nil
	}

	u, err := url.Parse(endpoint)
	if err != nil {
		return false, fmt.Errorf("invalid SES endpoint %q: %w", endpoint, err)
	}
	if u.Host == "" {
		return false, fmt.Errorf("invalid SES endpoint %q: missing host", endpoint)
	}
	if u.User != nil {
		// The URL would be printed in messages, so credentials come from
		// the AWS credential chain instead.
		return false, fmt.Errorf("invalid SES endpoint %q: it must not contain a user name or password", u.Redacted())
	}

	switch strings.ToLower(u.Scheme) {
	case "https":
		return false, nil
	case "http":
		if !isLoopback(u.Hostname()) {
			return false, fmt.Errorf("invalid SES endpoint %q: plain http:// is allowed only on a loopback address, use https://", endpoint)
		}
		return true, nil
	default:
		return false, fmt.Errorf("invalid SES endpoint %q: the scheme must be https", endpoint)
	}
}

// isLoopback reports whether host is "localhost" or a loopback IP address
// (127.0.0.0/8 or ::1). Other names are not resolved.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkOptions rejects a configuration set or tag that SES would reject, or
// that could inject a header field.
func checkOptions(opts Options) error {
	if err := checkConfigurationSet(opts.ConfigurationSet); err != nil {
		return err
	}

	if err := checkRegion(opts.Region); err != nil {
		return err
	}

	seen := make(map[string]bool)
	for i, tag := range opts.Tags {
		if err := checkTagPart(tag.Name); err != nil {
			return fmt.Errorf("invalid tag name %q (tag %d): %w", tag.Name, i+1, err)
		}
		if err := checkTagPart(tag.Value); err != nil {
			return fmt.Errorf("invalid value %q of tag %q: %w", tag.Value, tag.Name, err)
		}
		if seen[tag.Name] {
			return fmt.Errorf("duplicate tag name %q: give each tag once", tag.Name)
		}
		seen[tag.Name] = true
	}

	if opts.MaxAttempts < 0 {
		return fmt.Errorf("invalid max attempts %d: must not be negative", opts.MaxAttempts)
	}
	if opts.MaxBackoff < 0 {
		return fmt.Errorf("invalid max backoff %v: must not be negative", opts.MaxBackoff)
	}
	if opts.RequestTimeout < 0 {
		return fmt.Errorf("invalid request timeout %v: must not be negative", opts.RequestTimeout)
	}
	if opts.MaxSendRate < 0 && opts.MaxSendRate != NoPacing || math.IsNaN(opts.MaxSendRate) || math.IsInf(opts.MaxSendRate, 0) {
		return fmt.Errorf("invalid max send rate %v: give recipients per second, 0 to read it from SES, or NoPacing", opts.MaxSendRate)
	}
	if opts.RateLimit < 0 || math.IsNaN(opts.RateLimit) || math.IsInf(opts.RateLimit, 0) {
		return fmt.Errorf("invalid rate limit %v: give recipients per second, or 0 for none", opts.RateLimit)
	}
	return nil
}

// checkRegion accepts an empty region or one made of lowercase ASCII
// letters, digits and dashes, such as "eu-central-1", so that a typo gets a
// clear error instead of one from deep inside the SDK.
func checkRegion(region string) error {
	if region == "" {
		return nil
	}
	valid := !strings.HasPrefix(region, "-") && !strings.HasSuffix(region, "-") && strings.Contains(region, "-")
	for _, r := range region {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			valid = false
		}
	}
	if !valid {
		return fmt.Errorf("invalid AWS region %q: give a region name such as eu-central-1", region)
	}
	return nil
}

// checkConfigurationSet accepts the characters SES allows in a configuration
// set name: ASCII letters, digits, underscores and dashes, at most 64.
func checkConfigurationSet(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > 64 {
		return fmt.Errorf("invalid configuration set %q: longer than 64 characters", name)
	}
	if r, ok := firstNotTagRune(name); ok {
		return fmt.Errorf("invalid configuration set %q: character %q is not an ASCII letter, digit, underscore or dash", name, r)
	}
	return nil
}

// checkTagPart accepts a tag name or value: 1 to 256 ASCII letters, digits,
// underscores and dashes.
func checkTagPart(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxTagLength {
		return fmt.Errorf("longer than %d characters", MaxTagLength)
	}
	if r, ok := firstNotTagRune(s); ok {
		return fmt.Errorf("character %q is not an ASCII letter, digit, underscore or dash", r)
	}
	return nil
}

// firstNotTagRune returns the first character of s that SES does not allow
// in a tag or configuration set name.
func firstNotTagRune(s string) (rune, bool) {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			continue
		}
		return r, true
	}
	return 0, false
}
