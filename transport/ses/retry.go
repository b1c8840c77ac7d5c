package ses

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// throttleCodes are the error codes that mean "too many requests, try
// again later". LimitExceededException is missing on purpose, because SES
// uses it for a spent daily quota too, which a retry within seconds cannot
// help. isThrottling reads its message instead.
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
		// The SDK's retry quota (500 tokens, 5 per throttled retry) is
		// shared by every goroutine of a Transport: under load it would run
		// out and turn throttling into failures at once. The pacing of
		// SendEmail and the backoff already keep retries apart.
		o.RateLimiter = ratelimit.None
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

// isThrottling reports whether err means SES rejected the request because of
// the sending rate: HTTP 429, a throttling error code, or the message
// "Maximum sending rate exceeded". A spent daily quota is not throttling.
func isThrottling(err error) bool {
	if err == nil || isQuotaExceeded(err) {
		return false
	}

	if responseStatus(err) == http.StatusTooManyRequests {
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
// quota is spent: the message "Daily message quota exceeded" (which SES
// sends with the code Throttling or LimitExceededException), or
// LimitExceededException with any message but "Maximum sending rate
// exceeded". An unknown limit counts as the quota, so it is not retried.
func isQuotaExceeded(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	message := strings.ToLower(apiErr.ErrorMessage())
	if strings.Contains(message, "daily message quota exceeded") {
		return true
	}
	return apiErr.ErrorCode() == "LimitExceededException" && !strings.Contains(message, "maximum sending rate exceeded")
}
