package ses

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// Account is the sending status of the SES account in the region of a
// Transport, as GetAccount returns it.
type Account struct {
	// Max24HourSend is the number of recipients the account may send to in
	// 24 hours, or -1 for no limit.
	Max24HourSend float64 `json:"max24HourSend"`
	// MaxSendRate is the number of recipients per second.
	MaxSendRate float64 `json:"maxSendRate"`
	// SentLast24Hours is the number of recipients of the last 24 hours.
	SentLast24Hours float64 `json:"sentLast24Hours"`
	// ProductionAccessEnabled is false while the account is in the sandbox,
	// where it may send only to verified identities.
	ProductionAccessEnabled bool `json:"productionAccessEnabled"`
	// SendingEnabled is false while sending is paused for the account.
	SendingEnabled bool `json:"sendingEnabled"`
	// EnforcementStatus is HEALTHY, PROBATION or SHUTDOWN, or "" when SES
	// returned none.
	EnforcementStatus string `json:"enforcementStatus"`
	// EngagementMetrics means Virtual Deliverability Manager collects open
	// and click metrics for the whole account, which makes SES add a
	// tracking image and rewrite links in configuration sets that do not
	// turn it off.
	EngagementMetrics bool `json:"engagementMetrics"`
}

// Sandbox reports whether the account is in the SES sandbox.
func (a Account) Sandbox() bool { return !a.ProductionAccessEnabled }

// Account calls GetAccount. An error from SES is an *APIError.
func (t *Transport) Account(ctx context.Context) (Account, error) {
	out, err := t.client.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		return Account{}, newAPIError("GetAccount", "", err)
	}

	a := Account{
		ProductionAccessEnabled: out.ProductionAccessEnabled,
		SendingEnabled:          out.SendingEnabled,
		EnforcementStatus:       aws.ToString(out.EnforcementStatus),
	}
	if q := out.SendQuota; q != nil {
		a.Max24HourSend, a.MaxSendRate, a.SentLast24Hours = q.Max24HourSend, q.MaxSendRate, q.SentLast24Hours
	}
	if v := out.VdmAttributes; v != nil && v.VdmEnabled == types.FeatureStatusEnabled {
		a.EngagementMetrics = v.DashboardAttributes != nil && v.DashboardAttributes.EngagementMetrics == types.FeatureStatusEnabled
	}
	return a, nil
}

// APIError is an error of an SES call other than SendEmail, such as
// GetAccount or PutConfigurationSetDeliveryOptions.
type APIError struct {
	// Operation is the SES operation, such as "GetAccount".
	Operation string
	// ConfigurationSet is the configuration set of the call, or "".
	ConfigurationSet string
	// Code is the SES error code, such as "AccessDeniedException", or ""
	// when there was no response or it had no code.
	Code string
	// StatusCode is the HTTP status, or 0 when there was no response.
	StatusCode int
	// Message is the error message SES returned, or "".
	Message string
	// Err is the error of the SDK.
	Err error
}

func newAPIError(operation, configurationSet string, err error) *APIError {
	e := &APIError{Operation: operation, ConfigurationSet: configurationSet, Err: err}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code, e.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	e.StatusCode = responseStatus(err)
	return e
}

// Error names the operation and the cause, with a hint for the causes a
// user can fix.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("failed to call SES %s: %v", e.Operation, e.Err)
	switch {
	case e.Code != "" && e.Code != "UnknownError":
		msg = fmt.Sprintf("failed to call SES %s: %s (%s, HTTP %d)", e.Operation, e.Message, e.Code, e.StatusCode)
	case e.StatusCode != 0 && e.Message != "":
		// "UnknownError" is the SDK's code for a response without one.
		msg = fmt.Sprintf("failed to call SES %s: %s (HTTP %d)", e.Operation, e.Message, e.StatusCode)
	}

	var timedOut *timeoutError
	switch {
	case errors.As(e.Err, &timedOut):
		msg = fmt.Sprintf("failed to call SES %s: no response within %v; check the endpoint and the network", e.Operation, timedOut.timeout)
	case e.StatusCode == 0 && strings.Contains(e.Err.Error(), "get credentials"):
		// NOTE: the SDK has no error type for a missing credential, only
		// this text, so another SDK version may lose the hint.
		msg = fmt.Sprintf("failed to call SES %s: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use a profile of the AWS configuration", e.Operation)
	case e.Code == "AccessDeniedException" || e.StatusCode == 403:
		msg += fmt.Sprintf("; the credentials need the ses:%s permission", e.Operation)
	case e.Code == "NotFoundException" && e.ConfigurationSet != "":
		msg += fmt.Sprintf("; configuration set %q does not exist in this region, so check its name and --region", e.ConfigurationSet)
	case e.StatusCode == 404:
		msg += fmt.Sprintf("; the endpoint does not implement %s, as SES emulators often do not", e.Operation)
	}
	return msg
}

// Unwrap returns the SDK's error.
func (e *APIError) Unwrap() error { return e.Err }
