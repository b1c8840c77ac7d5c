// Package deps pins the modules the packages under construction import, so
// that go.mod stays stable while they are written. It goes once they do.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/retry"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/sesv2"
	_ "github.com/aws/smithy-go"
	_ "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/mail"
	_ "github.com/emersion/go-message/textproto"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "golang.org/x/net/idna"
	_ "golang.org/x/term"
)
