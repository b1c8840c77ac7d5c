package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/keyring"
)

var update = flag.Bool("update", false, "rewrite the testscript files whose cmp failed")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sealmail": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	// The scripts run their gpg and openssl steps under [exec:gpg] and
	// [exec:openssl], which skip the steps when the program is missing. In
	// CI and under scripts/test, a missing peer fails instead.
	if os.Getenv("CI") != "" || os.Getenv("SEALMAIL_REQUIRE_PEERS") != "" {
		for _, peer := range []string{"gpg", "gpgconf", "openssl"} {
			if _, err := exec.LookPath(peer); err != nil {
				peers.Missing(t, peer)
			}
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("SEALMAIL_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			env.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
			env.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
			env.Setenv("AWS_REGION", "eu-west-1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"genkey":          cmdGenkey,
			"fingerprint":     cmdFingerprint,
			"importorigin":    cmdImportOrigin,
			"pgprecipients":   cmdPGPRecipients,
			"smimecerts":      cmdSMIMECerts,
			"datein":          cmdDateIn,
			"wkd":             cmdWKD,
			"certfingerprint": cmdCertFingerprint,
			"adduid":          cmdAddUID,
		},
	})
}

// cmdGenkey makes a key for a script:
//
//	genkey [-expired] [-age N] [-days N] [-revoked] [-sign-only] [-rsa BITS] [-passphrase P] ADDRESS PUBLIC SECRET
//
// It writes the armored certificate to PUBLIC and the armored secret key,
// locked with P when given, to SECRET. With -age, the key was created N
// days ago; with -days, it expires N days after its creation.
func cmdGenkey(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("genkey does not fail")
	}
	fs := flag.NewFlagSet("genkey", flag.ContinueOnError)
	expired := fs.Bool("expired", false, "make a key that expired a day ago")
	age := fs.Int("age", 0, "make a key created this many days ago")
	days := fs.Int("days", 0, "make a key that expires this many days after its creation")
	revoked := fs.Bool("revoked", false, "revoke the key")
	signOnly := fs.Bool("sign-only", false, "drop the encryption subkey")
	rsaBits := fs.Int("rsa", 0, "make an RSA key of this size")
	passphrase := fs.String("passphrase", "", "lock the secret key with this passphrase")
	if err := fs.Parse(args); err != nil || fs.NArg() != 3 {
		ts.Fatalf("usage: genkey [flags] ADDRESS PUBLIC SECRET")
	}
	address, publicFile, secretFile := fs.Arg(0), ts.MkAbs(fs.Arg(1)), ts.MkAbs(fs.Arg(2))

	opts := keyring.GenerateOptions{RSABits: *rsaBits}
	if *expired {
		opts.Now = time.Now().Add(-72 * time.Hour)
		opts.Lifetime = 48 * time.Hour
	}
	if *age > 0 {
		opts.Now = time.Now().AddDate(0, 0, -*age)
	}
	if *days > 0 {
		opts.Lifetime = time.Duration(*days) * 24 * time.Hour
	}
	e, err := keyring.Generate("Test "+address, address, opts)
	ts.Check(err)
	if *signOnly {
		e.Subkeys = nil
	}
	if *revoked {
		ts.Check(e.Revoke(packet.KeyCompromised, "test", nil))
	}

	var public bytes.Buffer
	ts.Check(writeArmored(&public, openpgp.PublicKeyType, e.Serialize))
	ts.Check(os.WriteFile(publicFile, public.Bytes(), 0o644))
	if *passphrase != "" {
		e, err = lockedCopy(e, []byte(*passphrase))
		ts.Check(err)
	}
	var secret bytes.Buffer
	ts.Check(writeArmored(&secret, openpgp.PrivateKeyType, secretSerializer(e)))
	ts.Check(os.WriteFile(secretFile, secret.Bytes(), 0o600))
	ts.Logf("genkey %s: %X (%s)", address, e.PrimaryKey.Fingerprint, strconv.Quote(publicFile))
}

// cmdFingerprint sets an environment variable to the fingerprint of a key:
//
//	fingerprint VAR FILE
func cmdFingerprint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fingerprint VAR FILE")
	}
	f, err := os.Open(ts.MkAbs(args[1]))
	ts.Check(err)
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprintf("%X", keys[0].PrimaryKey.Fingerprint))
}
