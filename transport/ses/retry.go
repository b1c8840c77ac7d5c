package ses

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// throttleCodes are the error codes that mean "too many requests, try
// again later". LimitExceededException is missing on purpose: SES uses it
// for a spent daily quota, which a retry within seconds cannot help.
var throttleCodes = map[string]bool{
	"Throttling":                true,
	"ThrottlingException":       true,
	"ThrottledException":        true,
	"TooManyRequestsException":  true,
	"RequestThrottled":          true,
	"RequestThrottledException": true,
	"RequestLimitExceeded":      true,
}

// newRetryer returns the SDK's standard retryer with one change: it retries
// throttling only. HTTP 5xx, timeouts and connection errors are not retried,
// because SendEmail has no idempotency key and a retry could deliver twice.
func newRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	if maxAttempts == 0 {
		maxAttempts = DefaultMaxAttempts
	}
	if maxBackoff == 0 {
		maxBackoff = DefaultMaxBackoff
	}

	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.Retryables = []retry.IsErrorRetryable{
			retry.NoRetryCanceledError{},
			retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				return aws.BoolTernary(isThrottling(err))
			}),
		}
		o.Throttles = []retry.IsErrorThrottle{
			retry.IsErrorThrottleFunc(func(err error) aws.Ternary {
				return aws.BoolTernary(isThrottling(err))
			}),
		}
	})
}

// isThrottling reports whether err means SES refused the request because of
// the sending rate: HTTP 429, a throttling error code, or the message
// "Maximum sending rate exceeded". A spent daily quota is not throttling.
func isThrottling(err error) bool {
	if err == nil || isQuotaExceeded(err) {
		return false
	}

	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() == http.StatusTooManyRequests {
		return true
	}

	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	if throttleCodes[apiErr.ErrorCode()] {
		return true
	}
	return strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "maximum sending rate exceeded")
}

// isQuotaExceeded reports whether err means the account's daily sending
// quota is spent: LimitExceededException, or the message "Daily message
// quota exceeded" that SES sends with the code Throttling.
func isQuotaExceeded(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	if apiErr.ErrorCode() == "LimitExceededException" {
		return true
	}
	return strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "daily message quota exceeded")
}
