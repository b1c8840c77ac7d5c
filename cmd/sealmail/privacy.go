package main

import (
	"flag"
	"strconv"

	"github.com/sealmail/sealmail/compose"
)

// switchFlag is a boolean flag that records whether the command line set
// it, so that a setting of config.toml fills it only when it was left out
// and --flag=false overrides the file.
type switchFlag struct {
	value, set bool
}

func (s *switchFlag) String() string { return strconv.FormatBool(s.value) }

func (s *switchFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	s.value, s.set = b, true
	return nil
}

// IsBoolFlag lets the flag package accept the flag without a value.
func (s *switchFlag) IsBoolFlag() bool { return true }

// privacyFlags are the message flags for header protection, Autocrypt and
// the attached key or certificate.
type privacyFlags struct {
	noHeaderProtection switchFlag
	attachKey          switchFlag // OpenPGP
	attachCert         switchFlag // S/MIME
	noAutocrypt        switchFlag
	preferEncrypt      switchFlag
}

func (p *privacyFlags) register(fs *flag.FlagSet) {
	fs.Var(&p.noHeaderProtection, "no-header-protection", "turn off header protection: no copy of the header fields inside the signed or encrypted part, and the real Subject outside instead of [...]")
	fs.Var(&p.attachKey, "attach-key", "attach the sender's OpenPGP public key, as OpenPGP_0xKEYID.asc (OpenPGP only, and the message must be signed or encrypted to the sender)")
	fs.Var(&p.attachCert, "attach-cert", "attach the sender's S/MIME certificate and its chain without the root, as smime.p7c (needs --smime)")
	fs.Var(&p.noAutocrypt, "no-autocrypt", "leave out the Autocrypt header (the sender's OpenPGP key) and the Autocrypt-Gossip fields (the recipients' keys)")
	fs.Var(&p.preferEncrypt, "prefer-encrypt", "add prefer-encrypt=mutual to the Autocrypt header, so Autocrypt clients encrypt replies by default (OpenPGP only)")
}

// applyConfig fills the flags that the command line left out from the
// settings of c. smime is the scheme in use. With S/MIME, attach_key sets
// --attach-cert. prefer_encrypt is applied only when an Autocrypt header is
// written (OpenPGP without --no-autocrypt), so that a config.toml written
// for OpenPGP does not make check reject --smime or --no-autocrypt.
func (p *privacyFlags) applyConfig(c *config, smime bool, settings configSettings) {
	// turnOn sets the flag f, named name, when the command line left it out
	// and config.toml gives v the value want.
	turnOn := func(f *switchFlag, name, setting string, v *bool, want bool) {
		if !f.set && v != nil && *v == want {
			f.value, f.set = true, true
			settings[name] = setting
		}
	}

	turnOn(&p.noHeaderProtection, "no-header-protection", "header_protection = false", c.HeaderProtection, false)
	if smime {
		turnOn(&p.attachCert, "attach-cert", "attach_key = true", c.AttachKey, true)
	} else {
		turnOn(&p.attachKey, "attach-key", "attach_key = true", c.AttachKey, true)
	}
	turnOn(&p.noAutocrypt, "no-autocrypt", "autocrypt = false", c.Autocrypt, false)
	if !smime && !p.noAutocrypt.value {
		turnOn(&p.preferEncrypt, "prefer-encrypt", "prefer_encrypt = true", c.PreferEncrypt, true)
	}
}

// check rejects the flags that do not fit the scheme or each other. settings
// names the values that came from config.toml.
func (p *privacyFlags) check(smime bool, settings configSettings) error {
	switch {
	case smime && p.attachKey.value:
		return usagef("--attach-key attaches an OpenPGP key and cannot be used with %s: give --attach-cert to attach the sender's S/MIME certificate", settings.name("smime"))
	case !smime && p.attachCert.value:
		return usagef("--attach-cert attaches an S/MIME certificate and needs --smime: give --attach-key to attach the sender's OpenPGP key")
	case smime && p.preferEncrypt.value:
		return usagef("--prefer-encrypt goes into the Autocrypt header, which only OpenPGP messages carry, so it cannot be used with %s: leave it out", settings.name("smime"))
	case p.preferEncrypt.value && p.noAutocrypt.value:
		return usagef("--prefer-encrypt goes into the Autocrypt header, which %s leaves out: drop one of them", settings.name("no-autocrypt"))
	}
	return nil
}

// attaches reports whether the flags request that the sender's key or
// certificate be attached.
func (p *privacyFlags) attaches() bool { return p.attachKey.value || p.attachCert.value }

// noSenderKeyError returns the usage error for --attach-key or
// --attach-cert when the message neither signs nor encrypts to the sender,
// so that compose has no key of the sender to attach.
func (p *privacyFlags) noSenderKeyError(settings configSettings) error {
	name := "attach-key"
	if p.attachCert.value {
		name = "attach-cert"
	}
	fix := "drop --" + name + " or --no-encrypt-to-self"
	if settings.fromConfig(name) {
		fix = "give --" + name + "=false to attach nothing to this message"
	}
	return usagef("%s needs the sender's key, to sign or to encrypt to the sender, and --encrypt with --no-encrypt-to-self does neither: %s", settings.name(name), fix)
}

// setOptions sets the fields of opts that the flags decide.
func (p *privacyFlags) setOptions(opts *compose.Options) {
	opts.NoHeaderProtection = p.noHeaderProtection.value
	opts.AttachKey = p.attaches()
	opts.Autocrypt = compose.AutocryptOptions{Off: p.noAutocrypt.value, PreferEncrypt: p.preferEncrypt.value}
}
