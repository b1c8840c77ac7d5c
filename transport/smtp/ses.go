package smtp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SESPassword derives the Amazon SES SMTP password from an IAM secret access
// key for one region, with the version 4 algorithm. That is an HMAC-SHA256
// chain keyed first with "AWS4" and the secret, over the fixed date
// "11111111", the region, "ses", "aws4_request" and "SendRawEmail". The
// password is the version byte 0x04 and the signature, in standard base64,
// and it is valid only for the SES SMTP endpoint of that region.
//
// The older version 2 algorithm (an HMAC-SHA256 of "SendRawEmail" with
// version byte 0x02) is not offered: SES rejects such passwords with 535.
func SESPassword(secretAccessKey, region string) (string, error) {
	if secretAccessKey == "" {
		return "", errors.New("missing secret access key")
	}
	if strings.ContainsAny(secretAccessKey, " \t\r\n") {
		return "", errors.New("invalid secret access key: it contains white space; give the key alone, without quotes or line breaks")
	}
	if err := checkRegion(region); err != nil {
		return "", err
	}

	signature := sign([]byte("AWS4"+secretAccessKey), "11111111")
	for _, part := range []string{region, "ses", "aws4_request", "SendRawEmail"} {
		signature = sign(signature, part)
	}
	return base64.StdEncoding.EncodeToString(append([]byte{0x04}, signature...)), nil
}

// SESHost returns the host name of the SES SMTP endpoint of region, such as
// "email-smtp.eu-central-1.amazonaws.com".
func SESHost(region string) (string, error) {
	if err := checkRegion(region); err != nil {
		return "", err
	}
	return "email-smtp." + region + ".amazonaws.com", nil
}

func sign(key []byte, message string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(message))
	return mac.Sum(nil)
}

// checkRegion accepts a region name such as "eu-central-1" or
// "us-gov-west-1": lowercase ASCII words joined by dashes, ending in a
// number.
func checkRegion(region string) error {
	if region == "" {
		return errors.New("missing AWS region: give the region of the SES SMTP endpoint, such as eu-central-1")
	}
	parts := strings.Split(region, "-")
	valid := len(parts) >= 3
	for i, part := range parts {
		if part == "" {
			valid = false
		}
		for _, r := range part {
			isDigit := r >= '0' && r <= '9'
			if !(r >= 'a' && r <= 'z' || isDigit) || (i == len(parts)-1) != isDigit {
				valid = false
			}
		}
	}
	if !valid {
		return fmt.Errorf("invalid AWS region %q: give a region name such as eu-central-1", region)
	}
	return nil
}
