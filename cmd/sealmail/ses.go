package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/sealmail/sealmail/transport/ses"
)

const sesUsage = `Usage:
  sealmail ses quota [flags]                   show the sending quota and status of the SES account
  sealmail ses require-tls [flags] CONFIG_SET  make SES deliver the configuration set's messages only over TLS
  sealmail ses check [flags] CONFIG_SET        report the TLS policy and any tracking that would change signed
                                               messages; exit status 1 when there is a problem
`

// sesFlags are the flags that select the SES account and endpoint of the
// ses commands.
type sesFlags struct {
	region, profile onceFlag
	endpointURL     onceFlag
}

func (f *sesFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.region, "region", "the AWS `region` of SES (default: from the AWS configuration)")
	fs.Var(&f.profile, "profile", "the AWS shared configuration `profile`")
	fs.Var(&f.endpointURL, "endpoint-url", "the SES endpoint `URL` (also AWS_ENDPOINT_URL_SESV2); http:// only on loopback")
}

// sesTransport returns an SES transport for the flags, and warns when the
// endpoint is plain HTTP.
func (a *app) sesTransport(ctx context.Context, f *sesFlags) (*ses.Transport, error) {
	t, err := ses.New(ctx, ses.Options{Region: f.region.value, Profile: f.profile.value, EndpointURL: f.endpointURL.value})
	if err != nil {
		return nil, err
	}
	if t.Insecure() {
		a.progress("warning: using plain HTTP to %s, which is allowed only on loopback, for emulators and tests", t.Endpoint())
	}
	return t, nil
}

func (a *app) ses(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, sesUsage)
		return usagef("ses: missing subcommand: use quota, require-tls or check")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "quota":
		return a.sesQuota(ctx, rest)
	case "require-tls":
		return a.sesRequireTLS(ctx, rest)
	case "check":
		return a.sesCheck(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, sesUsage)
		return nil
	default:
		return usagef("unknown ses subcommand %q: use quota, require-tls or check", cmd)
	}
}

// quotaJSON is the output of ses quota --json.
type quotaJSON struct {
	ses.Account
	Sandbox bool `json:"sandbox"`
}

func (a *app) sesQuota(ctx context.Context, args []string) error {
	fs := a.newFlagSet("ses quota", "ses quota [--region R] [--profile P] [--endpoint-url URL] [--json]")
	var sf sesFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the quota as a JSON object")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("ses quota: unexpected argument %q", fs.Arg(0))
	}

	t, err := a.sesTransport(ctx, &sf)
	if err != nil {
		return err
	}
	account, err := t.Account(ctx)
	if err != nil {
		return err
	}

	if *asJSON {
		out, err := json.MarshalIndent(quotaJSON{Account: account, Sandbox: account.Sandbox()}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", out)
		return nil
	}

	max24 := formatCount(account.Max24HourSend) + " recipients"
	if account.Max24HourSend < 0 {
		max24 = "no limit"
	}
	sandbox := "no, production access"
	if account.Sandbox() {
		sandbox = "yes, only verified recipients"
	}
	status := account.EnforcementStatus
	if status == "" {
		status = "not reported"
	}
	fmt.Fprintf(a.stdout, "Max24HourSend:      %s\n", max24)
	fmt.Fprintf(a.stdout, "MaxSendRate:        %s recipients per second\n", formatCount(account.MaxSendRate))
	fmt.Fprintf(a.stdout, "SentLast24Hours:    %s recipients\n", formatCount(account.SentLast24Hours))
	fmt.Fprintf(a.stdout, "Sandbox:            %s\n", sandbox)
	fmt.Fprintf(a.stdout, "SendingEnabled:     %s\n", yesNo(account.SendingEnabled))
	fmt.Fprintf(a.stdout, "EnforcementStatus:  %s\n", status)
	return nil
}

func (a *app) sesRequireTLS(ctx context.Context, args []string) error {
	fs := a.newFlagSet("ses require-tls", "ses require-tls [--region R] [--profile P] [--endpoint-url URL] CONFIG_SET")
	var sf sesFlags
	sf.register(fs)
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	set, err := configurationSetArg(fs)
	if err != nil {
		return err
	}

	t, err := a.sesTransport(ctx, &sf)
	if err != nil {
		return err
	}
	change, err := t.RequireTLS(ctx, set)
	if err != nil {
		return err
	}

	if !change.Changed {
		fmt.Fprintf(a.stdout, "configuration set %s: the TLS policy is REQUIRE already; nothing changed\n", set)
		return nil
	}
	fmt.Fprintf(a.stdout, "configuration set %s: changed the TLS policy from %s to REQUIRE\n", set, change.Previous)
	if change.SendingPoolName != "" {
		fmt.Fprintf(a.stdout, "kept the sending pool %s\n", change.SendingPoolName)
	}
	if change.MaxDeliverySeconds != nil {
		fmt.Fprintf(a.stdout, "kept the maximum delivery time of %d seconds\n", *change.MaxDeliverySeconds)
	}
	return nil
}

func (a *app) sesCheck(ctx context.Context, args []string) error {
	fs := a.newFlagSet("ses check", "ses check [--region R] [--profile P] [--endpoint-url URL] [--json] CONFIG_SET")
	var sf sesFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the findings as a JSON object")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	set, err := configurationSetArg(fs)
	if err != nil {
		return err
	}

	t, err := a.sesTransport(ctx, &sf)
	if err != nil {
		return err
	}
	report, err := t.CheckConfigurationSet(ctx, set)
	if err != nil {
		return err
	}
	problems := report.Problems()

	if *asJSON {
		out, err := json.MarshalIndent(struct {
			ses.ConfigurationSetReport
			Problems []string `json:"problems"`
		}{report, problems}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", out)
	} else {
		a.printCheck(report, problems)
	}

	if len(problems) > 0 {
		return fmt.Errorf("configuration set %s has %d problems that can expose or change protected messages", set, len(problems))
	}
	return nil
}

// printCheck prints the findings of ses check as text.
func (a *app) printCheck(report ses.ConfigurationSetReport, problems []string) {
	engagement := report.EngagementMetrics
	switch {
	case engagement == "" && report.AccountErr != nil:
		engagement = "not set; the account's setting is unknown"
	case engagement == "":
		engagement = "not set; the account's setting is " + onOff(report.AccountEngagementMetrics)
	}

	fmt.Fprintf(a.stdout, "configuration set %s\n", report.ConfigurationSet)
	fmt.Fprintf(a.stdout, "  TLS policy:             %s\n", report.TLSPolicy)
	fmt.Fprintf(a.stdout, "  open tracking:          %s\n", destinationList(report.OpenTracking))
	fmt.Fprintf(a.stdout, "  click tracking:         %s\n", destinationList(report.ClickTracking))
	fmt.Fprintf(a.stdout, "  VDM engagement metrics: %s\n", engagement)
	if report.AccountErr != nil {
		a.progress("warning: %v", report.AccountErr)
	}
	for _, p := range problems {
		fmt.Fprintf(a.stdout, "problem: %s\n", p)
	}
	if len(problems) == 0 {
		fmt.Fprintln(a.stdout, "no problems found")
	}
}

// configurationSetArg returns the one argument of a command that takes a
// configuration set name.
func configurationSetArg(fs *flag.FlagSet) (string, error) {
	switch fs.NArg() {
	case 0:
		return "", usagef("%s: missing configuration set name", fs.Name())
	case 1:
		return fs.Arg(0), nil
	default:
		return "", usagef("%s: unexpected argument %q after the configuration set", fs.Name(), fs.Arg(1))
	}
}

// destinationList returns the event destinations of a kind of tracking,
// or "off" when there are none.
func destinationList(names []string) string {
	if len(names) == 0 {
		return "off"
	}
	return "on (event destinations " + strings.Join(names, ", ") + ")"
}

// formatCount writes a number that SES returns as a float without a
// fraction when it has none.
func formatCount(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
