package ses

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// TLSChange is the result of RequireTLS on a configuration set.
type TLSChange struct {
	// ConfigurationSet is the name of the configuration set.
	ConfigurationSet string
	// Previous is the TLS policy before the call: "REQUIRE" or "OPTIONAL".
	Previous string
	// Changed is false when the policy was REQUIRE already and nothing
	// was written.
	Changed bool
	// SendingPoolName and MaxDeliverySeconds are the delivery options kept
	// unchanged, empty and nil when the set has none.
	SendingPoolName    string
	MaxDeliverySeconds *int64
}

// RequireTLS sets the TLS policy of the configuration set to REQUIRE with
// PutConfigurationSetDeliveryOptions, so that SES delivers its messages only
// over TLS. The call replaces all delivery options, so RequireTLS first reads
// them with GetConfigurationSet and writes back the sending pool and the
// maximum delivery time. An error from SES is an *APIError.
func (t *Transport) RequireTLS(ctx context.Context, configurationSet string) (TLSChange, error) {
	if err := checkConfigurationSetName(configurationSet); err != nil {
		return TLSChange{}, err
	}

	set, err := t.client.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(configurationSet)})
	if err != nil {
		return TLSChange{}, newAPIError("GetConfigurationSet", configurationSet, err)
	}

	change := TLSChange{ConfigurationSet: configurationSet, Previous: tlsPolicy(set.DeliveryOptions)}
	if d := set.DeliveryOptions; d != nil {
		change.SendingPoolName = aws.ToString(d.SendingPoolName)
		change.MaxDeliverySeconds = d.MaxDeliverySeconds
	}
	if change.Previous == string(types.TlsPolicyRequire) {
		return change, nil
	}

	input := &sesv2.PutConfigurationSetDeliveryOptionsInput{
		ConfigurationSetName: aws.String(configurationSet),
		TlsPolicy:            types.TlsPolicyRequire,
		MaxDeliverySeconds:   change.MaxDeliverySeconds,
	}
	if change.SendingPoolName != "" {
		input.SendingPoolName = aws.String(change.SendingPoolName)
	}
	if _, err := t.client.PutConfigurationSetDeliveryOptions(ctx, input); err != nil {
		return TLSChange{}, newAPIError("PutConfigurationSetDeliveryOptions", configurationSet, err)
	}
	change.Changed = true
	return change, nil
}

// ConfigurationSetReport is the result of CheckConfigurationSet: the
// settings of a configuration set that can change or expose a message.
type ConfigurationSetReport struct {
	// ConfigurationSet is the name of the configuration set.
	ConfigurationSet string `json:"configurationSet"`
	// TLSPolicy is "REQUIRE" or "OPTIONAL". OPTIONAL lets SES deliver in
	// plain text to a server that offers no TLS.
	TLSPolicy string `json:"tlsPolicy"`
	// OpenTracking and ClickTracking name the enabled event destinations
	// that publish OPEN or CLICK events. Each one makes SES add a tracking
	// image to HTML parts, or rewrite their links.
	OpenTracking  []string `json:"openTracking"`
	ClickTracking []string `json:"clickTracking"`
	// EngagementMetrics is the Virtual Deliverability Manager setting of
	// the set: "ENABLED", "DISABLED", or "" when the account's applies.
	EngagementMetrics string `json:"engagementMetrics"`
	// AccountEngagementMetrics is the account's VDM setting, which applies
	// when EngagementMetrics is "". It is false when AccountErr is set.
	AccountEngagementMetrics bool `json:"accountEngagementMetrics"`
	// AccountErr is the error of GetAccount, or nil.
	AccountErr error `json:"-"`
}

// CheckConfigurationSet reads the configuration set with
// GetConfigurationSet, its event destinations with
// GetConfigurationSetEventDestinations, and the account's VDM setting with
// GetAccount. A failed GetAccount is recorded in AccountErr, since
// permission for it is often missing. Any other error from SES is an
// *APIError.
func (t *Transport) CheckConfigurationSet(ctx context.Context, configurationSet string) (ConfigurationSetReport, error) {
	if err := checkConfigurationSetName(configurationSet); err != nil {
		return ConfigurationSetReport{}, err
	}
	name := aws.String(configurationSet)

	set, err := t.client.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: name})
	if err != nil {
		return ConfigurationSetReport{}, newAPIError("GetConfigurationSet", configurationSet, err)
	}
	destinations, err := t.client.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: name})
	if err != nil {
		return ConfigurationSetReport{}, newAPIError("GetConfigurationSetEventDestinations", configurationSet, err)
	}

	r := ConfigurationSetReport{ConfigurationSet: configurationSet, TLSPolicy: tlsPolicy(set.DeliveryOptions)}
	for _, d := range destinations.EventDestinations {
		if !d.Enabled {
			continue
		}
		for _, event := range d.MatchingEventTypes {
			switch event {
			case types.EventTypeOpen:
				r.OpenTracking = append(r.OpenTracking, aws.ToString(d.Name))
			case types.EventTypeClick:
				r.ClickTracking = append(r.ClickTracking, aws.ToString(d.Name))
			}
		}
	}
	if v := set.VdmOptions; v != nil && v.DashboardOptions != nil {
		r.EngagementMetrics = string(v.DashboardOptions.EngagementMetrics)
	}

	account, err := t.Account(ctx)
	if err != nil {
		r.AccountErr = err
	} else {
		r.AccountEngagementMetrics = account.EngagementMetrics
	}
	return r, nil
}

// EngagementTracking reports whether VDM engagement metrics are on for the
// set, by its own setting or by the account's.
func (r ConfigurationSetReport) EngagementTracking() bool {
	if r.EngagementMetrics != "" {
		return r.EngagementMetrics == string(types.FeatureStatusEnabled)
	}
	return r.AccountEngagementMetrics
}

// Problems returns one message for each setting that lets SES change or
// expose a protected message: an OPTIONAL TLS policy, and open or click
// tracking. It returns nil when there is none.
func (r ConfigurationSetReport) Problems() []string {
	var problems []string
	if r.TLSPolicy != string(types.TlsPolicyRequire) {
		problems = append(problems, fmt.Sprintf("the TLS policy is %s, so SES delivers in plain text to a server without TLS and the network sees the sender, the recipients and the subject. Run \"sealmail ses require-tls %s\" to require TLS", r.TLSPolicy, r.ConfigurationSet))
	}

	// sealmail's SendEmail requests turn tracking off for protected
	// messages, but the SMTP interface has no such override.
	const effect = "which breaks clear signatures. sealmail's SendEmail requests turn tracking off for each signed message, but mail sent through the SMTP interface or by other programs is changed"
	if len(r.OpenTracking) > 0 {
		problems = append(problems, fmt.Sprintf("open tracking is on (event destinations %s), so SES adds a tracking image to HTML parts, %s", strings.Join(r.OpenTracking, ", "), effect))
	}
	if len(r.ClickTracking) > 0 {
		problems = append(problems, fmt.Sprintf("click tracking is on (event destinations %s), so SES rewrites the links of HTML parts, %s", strings.Join(r.ClickTracking, ", "), effect))
	}
	if r.EngagementTracking() {
		source := "the configuration set's"
		if r.EngagementMetrics == "" {
			source = "the account's"
		}
		problems = append(problems, fmt.Sprintf("Virtual Deliverability Manager engagement metrics are on (%s setting), so SES tracks opens and clicks in HTML parts, %s", source, effect))
	}
	return problems
}

// tlsPolicy returns the TLS policy of delivery options. SES applies
// OPTIONAL when a set has none.
func tlsPolicy(d *types.DeliveryOptions) string {
	if d == nil || d.TlsPolicy == "" {
		return string(types.TlsPolicyOptional)
	}
	return string(d.TlsPolicy)
}

// checkConfigurationSetName rejects an empty or invalid configuration set
// name before a call, as an *OptionError.
func checkConfigurationSetName(name string) error {
	if name == "" {
		return &OptionError{Err: fmt.Errorf("missing configuration set name")}
	}
	if err := checkConfigurationSet(name); err != nil {
		return &OptionError{Err: err}
	}
	return nil
}
