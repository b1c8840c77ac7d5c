package wkd

import "time"

// SetRequestTimeout sets the limit of each request for a test and returns
// the function that restores it.
func SetRequestTimeout(d time.Duration) (restore func()) {
	old := requestTimeout
	requestTimeout = d
	return func() { requestTimeout = old }
}
