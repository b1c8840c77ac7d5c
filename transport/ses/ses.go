// Package ses sends raw messages through the Amazon SES v2 SendEmail API.
//
// STUB: the contract below is fixed; the implementation is being written.
package ses

import (
	"context"
	"io"

	"github.com/sealmail/sealmail/transport"
)

// MaxRawSize is the largest raw message SES accepts, in bytes.
const MaxRawSize = 40 * 1000 * 1000

// MaxRecipients is the most envelope recipients SES accepts in one message.
const MaxRecipients = 50

// Tag is a message tag (SendEmailInput.EmailTags).
type Tag struct{ Name, Value string }

// Options configure a Transport. The zero value uses the SDK's default
// credential chain, region and endpoint.
type Options struct {
	Region           string
	Profile          string
	EndpointURL      string // also AWS_ENDPOINT_URL_SESV2; http:// only on loopback
	ConfigurationSet string
	Tags             []Tag
}

// Transport sends through SES.
type Transport struct{}

// New loads the AWS configuration and makes a Transport.
func New(ctx context.Context, opts Options) (*Transport, error) { panic("unimplemented") }

// Send implements transport.Transport; the id is the SES message ID.
func (t *Transport) Send(ctx context.Context, env transport.Envelope, raw io.Reader) (string, error) {
	panic("unimplemented")
}
