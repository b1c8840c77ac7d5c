package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/sealmail/sealmail/compose"
)

// configFileName is the name of the configuration file in the home.
const configFileName = "config.toml"

// config is the content of config.toml in the home: the defaults of the
// flags of compose, send and sendmail. A flag given on the command line
// overrides the file. The file contains no secrets, because passwords come
// from files it names or from the environment.
type config struct {
	// From is the sender's address, as --from takes it.
	From string `toml:"from"`
	// Scheme is "pgp" or "smime".
	Scheme string `toml:"scheme"`
	// Policy is the sendmail rule for a recipient without a key:
	// "require-encryption" (reject the message, the default) or
	// "encrypt-if-possible" (send signed only when any recipient lacks a key).
	Policy string `toml:"policy"`
	// PassphraseFile is the absolute path of a file whose first line is the
	// passphrase of the sender's key, as --passphrase-file takes it. sendmail
	// needs it, or SEALMAIL_PASSPHRASE, when no terminal is at hand.
	PassphraseFile string `toml:"passphrase_file"`
	// Via is the transport: "outbox", "ses" or "smtp".
	Via string `toml:"via"`
	// HeaderProtection = false has the effect of --no-header-protection.
	// The boolean settings are pointers, because a setting left out must
	// differ from one set to false.
	HeaderProtection *bool `toml:"header_protection"`
	// AttachKey = true has the effect of --attach-key with OpenPGP and of
	// --attach-cert with S/MIME.
	AttachKey *bool `toml:"attach_key"`
	// Autocrypt = false has the effect of --no-autocrypt.
	Autocrypt *bool `toml:"autocrypt"`
	// PreferEncrypt = true has the effect of --prefer-encrypt, and applies
	// only to OpenPGP messages that carry an Autocrypt header.
	PreferEncrypt *bool `toml:"prefer_encrypt"`

	SES  sesConfig  `toml:"ses"`
	SMTP smtpConfig `toml:"smtp"`
}

// sesConfig is the [ses] table of config.toml.
type sesConfig struct {
	Region           string `toml:"region"`
	Profile          string `toml:"profile"`
	EndpointURL      string `toml:"endpoint_url"`
	ConfigurationSet string `toml:"configuration_set"`
}

// smtpConfig is the [smtp] table of config.toml.
type smtpConfig struct {
	Host string `toml:"host"`
	Port int    `toml:"port"`
	// TLS is "starttls" or "implicit". Empty means the port decides.
	TLS          string `toml:"tls"`
	User         string `toml:"user"`
	PasswordFile string `toml:"password_file"`
	// CAFile is the absolute path of a PEM file of the CA certificates to
	// trust instead of the system's, as --smtp-ca-file takes it.
	CAFile string `toml:"ca_file"`
}

// Allowed values of the config.toml settings that take one of a fixed set.
var (
	configSchemes  = []string{"pgp", "smime"}
	configPolicies = []string{"require-encryption", "encrypt-if-possible"}
	configVias     = []string{"outbox", "ses", "smtp"}
	configTLSModes = []string{"starttls", "implicit"}
)

// loadConfig reads config.toml from the home folder dir. A missing file is
// the empty configuration. Unknown settings and invalid values are errors
// that name the file and the setting, so a typo is never silently ignored.
func loadConfig(dir string) (*config, error) {
	path := filepath.Join(dir, configFileName)
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the configuration: %w", err)
	}
	// A user who may write the file chooses where mail goes and how it
	// is protected.
	if perm := info.Mode().Perm(); perm&0o022 != 0 {
		return nil, fmt.Errorf("the configuration %s is writable by other users (mode %04o): run \"chmod go-w %s\"", path, perm, path)
	}

	var c config
	meta, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, fmt.Errorf("failed to read the configuration %s: %w", path, err)
	}
	if undecoded := meta.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, key := range undecoded {
			keys[i] = key.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("unknown setting %s in the configuration %s: use from, scheme, policy, passphrase_file, via, header_protection, attach_key, autocrypt, prefer_encrypt, [ses] region, profile, endpoint_url, configuration_set, and [smtp] host, port, tls, user, password_file, ca_file",
			strings.Join(keys, ", "), path)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("invalid configuration %s: %w", path, err)
	}
	return &c, nil
}

// check validates the values of c.
func (c *config) check() error {
	for _, setting := range []struct {
		name, value string
		allowed     []string
	}{
		{"scheme", c.Scheme, configSchemes},
		{"policy", c.Policy, configPolicies},
		{"via", c.Via, configVias},
		{"smtp.tls", c.SMTP.TLS, configTLSModes},
	} {
		if setting.value != "" && !slices.Contains(setting.allowed, setting.value) {
			return fmt.Errorf("%s = %q: use one of %s", setting.name, setting.value, strings.Join(setting.allowed, ", "))
		}
	}
	if c.Autocrypt != nil && !*c.Autocrypt && c.PreferEncrypt != nil && *c.PreferEncrypt {
		return errors.New("prefer_encrypt = true goes into the Autocrypt header, which autocrypt = false leaves out: remove one of them")
	}
	if c.SMTP.Port < 0 || c.SMTP.Port > 65535 {
		return fmt.Errorf("smtp.port = %d: use a port from 1 to 65535", c.SMTP.Port)
	}
	for _, setting := range []struct{ name, value string }{
		{"from", c.From},
		{"ses.region", c.SES.Region},
		{"ses.profile", c.SES.Profile},
		{"ses.endpoint_url", c.SES.EndpointURL},
		{"ses.configuration_set", c.SES.ConfigurationSet},
		{"smtp.host", c.SMTP.Host},
		{"smtp.user", c.SMTP.User},
		{"smtp.password_file", c.SMTP.PasswordFile},
		{"passphrase_file", c.PassphraseFile},
		{"smtp.ca_file", c.SMTP.CAFile},
	} {
		if strings.ContainsAny(setting.value, "\r\n") {
			return fmt.Errorf("%s contains a line break: remove it", setting.name)
		}
	}
	if c.From != "" {
		if err := checkFrom(c.From); err != nil {
			return err
		}
	}
	// sendmail runs in whatever folder its caller (a mail client, cron) is
	// in, so a relative path would name a different file each time.
	for _, setting := range []struct{ name, value string }{
		{"passphrase_file", c.PassphraseFile},
		{"smtp.password_file", c.SMTP.PasswordFile},
		{"smtp.ca_file", c.SMTP.CAFile},
	} {
		if setting.value != "" && !filepath.IsAbs(setting.value) {
			return fmt.Errorf("%s = %q: use an absolute path", setting.name, setting.value)
		}
	}
	return nil
}

// checkFrom checks the from setting as --from takes it: one address, with a
// display name or without.
func checkFrom(from string) error {
	list, err := compose.ParseAddressList(from)
	switch {
	case err != nil:
		return fmt.Errorf("from = %q is not a valid address: write one address, such as \"Alice <alice@example.org>\" or \"alice@example.org\"", from)
	case len(list) != 1:
		return fmt.Errorf("from = %q contains %d addresses: write exactly one, the sender's", from, len(list))
	}
	return nil
}

// configSettings maps the name of a flag to the setting of config.toml that
// gave the flag its value, such as "smtp-tls" to "tls in [smtp]", so that an
// error about the value names what the user wrote.
type configSettings map[string]string

// name returns how an error names the value of flag: the setting of
// config.toml when the value came from there, and the flag otherwise.
func (s configSettings) name(flag string) string {
	if setting, ok := s[flag]; ok {
		return setting + " of " + configFileName
	}
	return "--" + flag
}

// fromConfig reports whether the value of flag came from config.toml.
func (s configSettings) fromConfig(flag string) bool {
	_, ok := s[flag]
	return ok
}

// setDefault gives the flag f, named flag, the value v of setting in the
// configuration when the command line did not set it, and counts it as
// given from then on.
func (s configSettings) setDefault(f *onceFlag, flag, setting, v string) {
	if !f.set && v != "" {
		f.value, f.set = v, true
		s[flag] = setting
	}
}

// applyConfig fills the flags of compose and send that the command line
// left out from config.toml in the home. sf is nil for compose. The
// settings of a transport apply only when it is the one in use, so that
// [ses] settings do not count as SES flags given to --via smtp.
func (a *app) applyConfig(mf *messageFlags, sf *sendFlags) error {
	dir, err := a.homeDir()
	if err != nil {
		return err
	}
	c, err := loadConfig(dir)
	if err != nil {
		return err
	}

	if a.settings == nil {
		a.settings = configSettings{}
	}
	set := a.settings.setDefault
	set(&mf.from, "from", "from", c.From)
	set(&mf.passphraseFile, "passphrase-file", "passphrase_file", c.PassphraseFile)
	if c.Scheme == "smime" && !mf.pgp && !mf.smime {
		mf.smime = true
		a.settings["smime"] = `scheme = "smime"`
	}
	mf.settings = a.settings
	mf.privacy.applyConfig(c, mf.smime, a.settings)
	if sf == nil {
		return nil
	}
	set(&sf.via, "via", "via", c.Via)
	sf.smtp.settings = a.settings
	switch sf.way() {
	case "ses":
		set(&sf.region, "region", "region in [ses]", c.SES.Region)
		set(&sf.profile, "profile", "profile in [ses]", c.SES.Profile)
		set(&sf.endpointURL, "endpoint-url", "endpoint_url in [ses]", c.SES.EndpointURL)
		set(&sf.configurationSet, "configuration-set", "configuration_set in [ses]", c.SES.ConfigurationSet)
	case "smtp":
		set(&sf.region, "region", "region in [ses]", c.SES.Region)
		set(&sf.smtp.host, "smtp-host", "host in [smtp]", c.SMTP.Host)
		if c.SMTP.Port != 0 {
			set(&sf.smtp.port, "smtp-port", "port in [smtp]", strconv.Itoa(c.SMTP.Port))
		}
		set(&sf.smtp.tlsMode, "smtp-tls", "tls in [smtp]", c.SMTP.TLS)
		set(&sf.smtp.user, "smtp-user", "user in [smtp]", c.SMTP.User)
		set(&sf.smtp.passwordFile, "smtp-password-file", "password_file in [smtp]", c.SMTP.PasswordFile)
		set(&sf.smtp.certificateAuthority, "smtp-ca-file", "ca_file in [smtp]", c.SMTP.CAFile)
	}
	return nil
}
