package main

import (
	"strings"
)

// sendmailOptions are the options of sealmail sendmail that change what it
// does. Every other option that Postfix's sendmail(1) accepts for sending is
// accepted and ignored.
type sendmailOptions struct {
	// extractRecipients is -t: the recipients are the To, Cc and Bcc
	// addresses and the arguments, as Postfix adds them up.
	extractRecipients bool
	// sender is -f or -r: the envelope sender, and the From address when
	// the message has none.
	sender string
	// verbose is -v: report each copy on standard error.
	verbose bool
	// recipients are the arguments after the options.
	recipients []string
}

// sendmailValueOptions are the option letters that take a value, attached
// ("-fme@example.org") or as the next argument ("-f me@example.org"), as in
// Postfix's option string "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx".
const sendmailValueOptions = "ABCFLNORVXbefhopqr"

// sendmailIgnoredFlags are the option letters without a value that change
// nothing here: -i (a lone "." line is content anyway), -G, -U, -c, -m, -n
// and -x.
const sendmailIgnoredFlags = "GUcimnx"

// sendmailModes names the modes of -b that sealmail does not implement, and
// what to use instead where there is something.
var sendmailModes = map[string]string{
	"d": "daemon mode",
	"D": "daemon mode",
	"s": "SMTP on standard input",
	"p": "listing the queue; use \"sealmail queue list\"",
	"i": "initializing the alias database",
	"v": "verifying addresses",
	"t": "address test mode",
	"a": "ARPANET mode",
	"h": "host status",
	"H": "host status",
	"P": "queue statistics",
}

// parseSendmailArgs parses args in the manner of sendmail: single-dash
// options that may be grouped ("-ti") and whose value may be attached or the
// next argument, up to "--" or the first argument that is no option. The
// rest are the recipients. Every error is a usage error.
func parseSendmailArgs(args []string) (*sendmailOptions, error) {
	opts := &sendmailOptions{}
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			break
		}
		for j := 1; j < len(arg); j++ {
			letter := arg[j]
			switch {
			case letter == 't':
				opts.extractRecipients = true
			case letter == 'v':
				opts.verbose = true
			case letter == 'I':
				return nil, usagef("sendmail: -I (initializing the alias database) is not supported: sealmail sendmail only sends the message on standard input")
			case strings.IndexByte(sendmailIgnoredFlags, letter) >= 0:
			case strings.IndexByte(sendmailValueOptions, letter) >= 0:
				value := arg[j+1:]
				if value == "" && letter == 'q' {
					// A lone -q takes no value: it processes the queue.
					return nil, opts.setValue(letter, value)
				}
				if value == "" {
					if i+1 == len(args) {
						return nil, usagef("sendmail: option -%c needs a value", letter)
					}
					i++
					value = args[i]
				}
				if err := opts.setValue(letter, value); err != nil {
					return nil, err
				}
				j = len(arg) // the value ends the group
			default:
				return nil, usagef("sendmail: unknown option -%c in %q", letter, arg)
			}
		}
	}
	opts.recipients = args[i:]
	return opts, nil
}

// setValue applies the option letter with its value.
func (o *sendmailOptions) setValue(letter byte, value string) error {
	switch letter {
	case 'f', 'r':
		o.sender = value
	case 'b':
		if value == "m" {
			return nil // reading a message from standard input is what it does
		}
		mode, ok := sendmailModes[value[:1]]
		if !ok {
			mode = "an unknown mode"
		}
		return usagef("sendmail: -b%s (%s) is not supported: sealmail sendmail only sends the message on standard input (-bm)", value, mode)
	case 'q':
		return usagef("sendmail: -q%s (processing the queue) is not supported: run \"sealmail queue flush\" to send what is queued", value)
	case 'B':
		// Postfix accepts only these two body types (RFC 6152 and RFC 1652);
		// either way sealmail re-encodes what a protected entity cannot carry.
		if !strings.EqualFold(value, "8BITMIME") && !strings.EqualFold(value, "7BIT") {
			return usagef("sendmail: invalid -B %q: use 8BITMIME or 7BIT", value)
		}
	}
	// The other options (-F name, -o option, -N dsn, -O option=value, -h hop
	// count, -L label, -R return, -V envid, -X log file, -A, -C, -e, -p) only
	// tune an MTA's queue, logs or notices, which sealmail does not have.
	return nil
}
