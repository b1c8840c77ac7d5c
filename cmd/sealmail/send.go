package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/sealmail/sealmail/compose"
	"github.com/sealmail/sealmail/transport"
	"github.com/sealmail/sealmail/transport/maildir"
	"github.com/sealmail/sealmail/transport/ses"
	"github.com/sealmail/sealmail/transport/smtp"
)

// sendFlags are the flags of send beyond the message flags.
type sendFlags struct {
	via              onceFlag
	noSentCopy       bool
	region, profile  onceFlag
	endpointURL      onceFlag
	configurationSet onceFlag
	tags             listFlag
	// rate is --rate, the maximum sending rate in recipients per second.
	rate onceFlag
	smtp smtpFlags
}

func (f *sendFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.via, "via", "the way out: `outbox` (a Maildir in the home, the default), ses (the SES API) or smtp (the SES SMTP interface, or another SMTP server)")
	fs.BoolVar(&f.noSentCopy, "no-sent-copy", false, "do not keep the sent copies in the home's sent Maildir")
	fs.Var(&f.region, "region", "the AWS `region` of SES (default: from the AWS configuration)")
	fs.Var(&f.profile, "profile", "the AWS shared configuration `profile`")
	fs.Var(&f.endpointURL, "endpoint-url", "the SES endpoint `URL` (also AWS_ENDPOINT_URL_SESV2); http:// only on loopback")
	fs.Var(&f.configurationSet, "configuration-set", "the SES configuration set `name`")
	fs.Var(&f.tags, "tag", "an SES message tag as `NAME=VALUE` (repeatable)")
	fs.Var(&f.rate, "rate", "send to at most `N` recipients per second (one per copy of --each); SES keeps to 90 percent of the account's rate anyway, and the SES SMTP interface has the same rate but cannot report it")
	f.smtp.register(fs)
}

// way returns the transport --via names, the outbox when none is given.
func (f *sendFlags) way() string {
	if f.via.value == "" {
		return "outbox"
	}
	return f.via.value
}

// sendResult is the outcome of handing one copy to a transport.
type sendResult struct {
	copy compose.Copy
	id   string
	err  error
}

func (a *app) send(ctx context.Context, args []string) error {
	fs := a.newFlagSet("send", "send [message flags] [--each FILE] [--via outbox|ses|smtp] [SES or SMTP flags] [--rate N]")
	var mf messageFlags
	mf.register(fs)
	var sf sendFlags
	sf.register(fs)
	var ef eachFlags
	ef.register(fs)
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("send: unexpected argument %q", fs.Arg(0))
	}
	if err := ef.check(&mf); err != nil {
		return err
	}
	if err := a.applyConfig(&mf, &sf); err != nil {
		return err
	}
	if _, err := mf.mode(); err != nil {
		return err
	}
	if err := sf.check(); err != nil {
		return err
	}
	if ef.file.set {
		return a.sendEach(ctx, &mf, &sf, &ef)
	}
	m, err := mf.message(a.stdin)
	if err != nil {
		return err
	}
	h, err := a.openHome()
	if err != nil {
		return err
	}
	return a.sendMessage(ctx, h, m, &mf, &sf)
}

// sendMessage protects m, writes every copy, and only then hands the copies
// to the transport one after another, so that a copy that cannot be built
// stops the send before anything leaves.
func (a *app) sendMessage(ctx context.Context, h *home, m *compose.Message, mf *messageFlags, sf *sendFlags) error {
	// SES options are checked before any key is unlocked. The outbox is
	// opened only once the copies can be built, so a failed send leaves no
	// trace in the home.
	var t transport.Transport
	var via string
	var err error
	if sf.way() != "outbox" {
		if t, via, err = a.transport(ctx, h, sf); err != nil {
			return err
		}
	}
	c, err := a.composer(ctx, h, m, mf)
	if err != nil {
		return err
	}
	if t == nil {
		if t, via, err = a.transport(ctx, h, sf); err != nil {
			return err
		}
	}

	h.removeStaleCopies()
	copies := c.Copies()
	files := make([]*os.File, len(copies))
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	for i := range copies {
		f, err := h.tempFile()
		if err != nil {
			return err
		}
		files[i] = f
		a.step("protecting the %s (%d of %d)", describeCopy(copies[i]), i+1, len(copies))
		if err := c.WriteCopy(ctx, f, i); err != nil {
			return fmt.Errorf("failed to write the %s: %w", describeCopy(copies[i]), err)
		}
	}

	if err := checkCopies(t, copies, files); err != nil {
		return err
	}
	a.warnPacing(ctx, t, len(copies))

	// A copy for SES or SMTP is queued first, so that a copy that fails or
	// is interrupted can be sent again, with the same bytes, by queue retry.
	if via != "outbox" {
		results, err := a.sendSpooled(ctx, h, t, via, sf, copies, files)
		if err != nil {
			return err
		}
		return a.report(ctx, results)
	}

	results := make([]sendResult, len(copies))
	for i, cp := range copies {
		results[i] = sendResult{copy: cp}
		if err := ctx.Err(); err != nil {
			results[i].err = errors.New("not sent: interrupted")
			continue
		}
		if _, err := files[i].Seek(0, 0); err != nil {
			results[i].err = err
			continue
		}
		a.step("handing the %s to %s", describeCopy(cp), via)
		id, err := t.Send(ctx, cp.Envelope, files[i])
		results[i].id, results[i].err = id, err
		if err != nil {
			continue
		}
		if via == "outbox" {
			fmt.Fprintf(a.stdout, "wrote the %s to the outbox: %s\n", describeCopy(cp), id)
		} else {
			fmt.Fprintf(a.stdout, "sent the %s via %s: message ID %s\n", describeCopy(cp), via, id)
		}
		if !sf.noSentCopy {
			if err := keepSentCopy(h, files[i], cp, via, id); err != nil {
				results[i].err = fmt.Errorf("accepted with message ID %s, but %w", id, err)
			}
		}
	}
	return a.report(ctx, results)
}

// checkCopies runs the checks of an SES transport on every copy before the
// first is sent, so that a copy SES would reject stops them all.
func checkCopies(t transport.Transport, copies []compose.Copy, files []*os.File) error {
	switch t.(type) {
	case *ses.Transport, *smtp.Transport:
		// The SES SMTP interface has the limits of the SES API.
	default:
		return nil
	}
	for i, cp := range copies {
		raw, err := os.ReadFile(files[i].Name())
		if err != nil {
			return err
		}
		if err := ses.Check(cp.Envelope, raw); err != nil {
			return fmt.Errorf("nothing was sent, because the %s cannot go through SES: %w", describeCopy(cp), err)
		}
	}
	return nil
}

// warnPacing prints a warning when SES sends of several copies are paced to
// the default rate because the account's rate could not be read.
func (a *app) warnPacing(ctx context.Context, t transport.Transport, copies int) {
	st, ok := t.(*ses.Transport)
	if !ok || copies < 2 {
		return
	}
	p, err := st.Pacing(ctx)
	if err != nil || p.Err == nil {
		return
	}
	a.progress("warning: pacing the copies to %v recipient per second, the SES sandbox rate, because the account's rate is unknown: %v", p.MaxSendRate, p.Err)
}

// report prints which copies failed beside those accepted, and returns an
// error when any failed. A single copy's error is returned alone, unless a
// signal stopped the run: then the error of ctx is returned, for the exit
// status of the signal, and the copy's error is printed here.
func (a *app) report(ctx context.Context, results []sendResult) error {
	var failed int
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	if len(results) == 1 {
		if err := ctx.Err(); err != nil {
			// run prints only that the command was interrupted, so the
			// copy's queue entry is named here.
			fmt.Fprintf(a.stderr, "sealmail: failed: %s: %v\n", describeCopy(results[0].copy), results[0].err)
			return err
		}
		return results[0].err
	}
	fmt.Fprintf(a.stderr, "sealmail: %d of %d copies failed:\n", failed, len(results))
	errs := make([]error, len(results))
	for i, r := range results {
		errs[i] = r.err
		if r.err != nil {
			fmt.Fprintf(a.stderr, "  failed:   %s: %v\n", describeCopy(r.copy), r.err)
		} else {
			fmt.Fprintf(a.stderr, "  accepted: %s: message ID %s\n", describeCopy(r.copy), r.id)
		}
	}
	// The lines above are printed here, so run prints no hint for them.
	a.printHints(errs)
	a.printStops(errs)
	if failed == len(results) {
		return errors.New("no copy was sent")
	}
	return errors.New("not every copy was sent")
}

// keepSentCopy stores the exact bytes the transport accepted in the sent
// Maildir, with the message ID the transport assigned.
func keepSentCopy(h *home, f *os.File, cp compose.Copy, via, id string) error {
	sent, err := h.sent()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	if _, err := sent.Deliver(f, maildir.Record{Envelope: cp.Envelope, Via: via, MessageID: id}); err != nil {
		return fmt.Errorf("failed to keep the sent copy: %w", err)
	}
	return nil
}

// check rejects flag combinations that cannot work, before any key is
// unlocked or any copy is written.
func (sf *sendFlags) check() error {
	if _, err := sf.rateValue(); err != nil {
		return err
	}
	switch sf.way() {
	case "outbox":
		if sf.region.set || sf.profile.set || sf.endpointURL.set || sf.configurationSet.set || len(sf.tags) > 0 {
			return usagef("the SES flags need --via ses")
		}
		if sf.rate.set {
			return usagef("--rate needs --via ses or --via smtp, because the outbox sends nothing")
		}
	case "ses":
		for _, tag := range sf.tags {
			if _, _, ok := strings.Cut(tag, "="); !ok {
				return usagef("--tag %q is not of the form NAME=VALUE", tag)
			}
		}
	case "smtp":
		if sf.profile.set || sf.endpointURL.set || sf.configurationSet.set || len(sf.tags) > 0 {
			return usagef("--profile, --endpoint-url, --configuration-set and --tag need --via ses")
		}
		return sf.smtp.check(sf.region.value)
	default:
		return usagef("unknown --via %q: use outbox, ses or smtp", sf.way())
	}
	if sf.smtp.set() {
		return usagef("the SMTP flags need --via smtp")
	}
	return nil
}

// sesSettingsNote returns a note that names the settings in [ses] of
// config.toml that gave the SES flags their values, such as " (region and
// endpoint_url come from [ses] of config.toml)", or "" when none did.
func (a *app) sesSettingsNote() string {
	var names []string
	for _, flag := range []string{"region", "profile", "endpoint-url", "configuration-set"} {
		if setting, ok := a.settings[flag]; ok {
			names = append(names, strings.TrimSuffix(setting, " in [ses]"))
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (%s comes from [ses] of %s)", names[0], configFileName)
	}
	list := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	return fmt.Sprintf(" (%s come from [ses] of %s)", list, configFileName)
}

// rateValue returns the rate of --rate in recipients per second, or 0 when
// it is not given.
func (sf *sendFlags) rateValue() (float64, error) {
	if !sf.rate.set {
		return 0, nil
	}
	rate, err := strconv.ParseFloat(sf.rate.value, 64)
	if err != nil || rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return 0, usagef("invalid --rate %q: give the number of recipients per second, such as 14 or 0.5", sf.rate.value)
	}
	return rate, nil
}

// transport returns the transport --via chooses and its name.
func (a *app) transport(ctx context.Context, h *home, sf *sendFlags) (transport.Transport, string, error) {
	if err := sf.check(); err != nil {
		return nil, "", err
	}
	switch sf.way() {
	case "outbox":
		box, err := h.outbox()
		if err != nil {
			return nil, "", err
		}
		return maildir.Outbox{Maildir: box}, "outbox", nil
	case "ses":
		rate, _ := sf.rateValue()
		opts := ses.Options{
			Region:           sf.region.value,
			Profile:          sf.profile.value,
			EndpointURL:      sf.endpointURL.value,
			ConfigurationSet: sf.configurationSet.value,
			RateLimit:        rate,
		}
		for _, tag := range sf.tags {
			name, value, _ := strings.Cut(tag, "=")
			opts.Tags = append(opts.Tags, ses.Tag{Name: name, Value: value})
		}
		t, err := ses.New(ctx, opts)
		if err != nil {
			return nil, "", fmt.Errorf("%w%s", err, a.sesSettingsNote())
		}
		if t.Insecure() {
			a.progress("warning: sending over plain HTTP to %s, which is allowed only on loopback, for emulators and tests", t.Endpoint())
		}
		return t, "ses", nil
	case "smtp":
		t, err := a.smtpTransport(sf)
		if err != nil {
			return nil, "", err
		}
		return t, "smtp", nil
	default:
		return nil, "", usagef("unknown --via %q: use outbox, ses or smtp", sf.way())
	}
}
