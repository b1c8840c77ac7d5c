package main

import (
	"bytes"
	"crypto"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sealmail/sealmail/internal/wkdtest"
	"github.com/sealmail/sealmail/keyring/wkd"
)

// cmdWKD runs a Web Key Directory for a script and edits the keys it
// serves:
//
//	wkd serve DOMAIN...              start the directory for the domains
//	wkd publish [-direct] ADDRESS FILE...  serve the keys in the FILEs for ADDRESS, one response
//	wkd together N                   hold each key request until N are in flight,
//	                                 or reject it with 503 after 10 s
//	wkd unpublish [-direct] ADDRESS  serve 404 for ADDRESS again
//	wkd missing HOST                 make HOST look like a name that does not exist
//	wkd connects                     print the host:port of the CONNECT requests so far,
//	                                 sorted, once each
//	wkd addsubkey SECRET PUBLIC      add an encryption subkey to the key in SECRET
//	wkd revoke SECRET PUBLIC         revoke the key in SECRET
//	wkd extend SECRET PUBLIC DAYS    make the key in SECRET expire DAYS days from now
//	wkd subkeys FILE N               check that the key in FILE has N subkeys
//
// "serve" starts an HTTPS server and a CONNECT proxy on 127.0.0.1, with a
// certificate from a new CA for each domain and its openpgpkey host, and
// sets HTTPS_PROXY and SSL_CERT_FILE, so the sealmail process reaches the
// directory, and only it, whatever host it requests. addsubkey and revoke
// write the secret key back to SECRET and the armored certificate to
// PUBLIC.
func cmdWKD(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("wkd does not fail")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: wkd serve|publish|unpublish|together|missing|connects|addsubkey|revoke|extend|subkeys ...")
	}
	switch args[0] {
	case "serve":
		startDirectory(ts, args[1:])
	case "addsubkey", "revoke", "extend":
		editKey(ts, args[0], args[1:])
	case "subkeys":
		countSubkeys(ts, args[1:])
	case "publish", "unpublish", "together", "missing", "connects":
		ts.Fatalf("wkd %s: run \"wkd serve DOMAIN...\" first", args[0])
	default:
		ts.Fatalf("wkd: unknown subcommand %q", args[0])
	}
}

// scriptDirectory is the directory that "wkd serve" started.
type scriptDirectory struct {
	server *wkdtest.Server
	proxy  *wkdtest.Proxy

	mu sync.Mutex
	// together is the number of key requests that must be in flight at
	// once before any is served, or 0.
	together int
	// inFlight is the number of key requests waiting for the others,
	// and arrived is closed when it reaches together.
	inFlight int
	arrived  chan struct{}
}

// serveKey returns the handler of a published key, which "wkd together"
// holds back.
func (d *scriptDirectory) serveKey(key []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		arrived := d.arrived
		if d.together > 0 {
			d.inFlight++
			if d.inFlight == d.together {
				close(d.arrived)
			}
		}
		d.mu.Unlock()

		if arrived != nil {
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				http.Error(w, "the requests did not overlap", http.StatusServiceUnavailable)
				return
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(key)
	}
}

func startDirectory(ts *testscript.TestScript, domains []string) {
	if len(domains) == 0 {
		ts.Fatalf("usage: wkd serve DOMAIN...")
	}
	ca, err := wkdtest.NewCA("sealmail test WKD CA")
	ts.Check(err)
	var names []string
	for _, domain := range domains {
		names = append(names, domain, "openpgpkey."+domain)
	}
	cert, err := ca.Issue(names...)
	ts.Check(err)

	server := wkdtest.StartServer(cert)
	ts.Defer(server.Close)
	proxy, err := wkdtest.StartProxy(server.Listener.Addr().String())
	ts.Check(err)
	ts.Defer(proxy.Close)

	caFile := ts.MkAbs("wkd-ca.pem")
	ts.Check(os.WriteFile(caFile, ca.PEM(), 0o644))
	// Go reads SSL_CERT_FILE for its system roots on Linux and the
	// HTTPS_PROXY of the environment in http.ProxyFromEnvironment.
	ts.Setenv("SSL_CERT_FILE", caFile)
	ts.Setenv("SSL_CERT_DIR", ts.MkAbs("no-cert-dir"))
	ts.Setenv("HTTPS_PROXY", proxy.URL)
	ts.Setenv("NO_PROXY", "")

	d := &scriptDirectory{server: server, proxy: proxy}
	ts.SetCmd("wkd", d.command)
}

func (d *scriptDirectory) command(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("wkd does not fail")
	}
	if len(args) == 0 {
		cmdWKD(ts, neg, args)
		return
	}
	switch args[0] {
	case "publish":
		d.publish(ts, args[1:])
	case "unpublish":
		fs := flag.NewFlagSet("wkd unpublish", flag.ContinueOnError)
		direct := fs.Bool("direct", false, "remove the key of the direct method")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			ts.Fatalf("usage: wkd unpublish [-direct] ADDRESS")
		}
		ts.Check(d.server.Unpublish(directoryURL(ts, fs.Arg(0), *direct)))
	case "together":
		if len(args) != 2 {
			ts.Fatalf("usage: wkd together N")
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		d.mu.Lock()
		d.together, d.inFlight, d.arrived = n, 0, make(chan struct{})
		d.mu.Unlock()
	case "missing":
		if len(args) != 2 {
			ts.Fatalf("usage: wkd missing HOST")
		}
		d.proxy.Refuse(args[1])
	case "connects":
		hosts := d.proxy.Requests()
		slices.Sort(hosts)
		for _, host := range slices.Compact(hosts) {
			fmt.Fprintln(ts.Stdout(), host)
		}
	case "serve":
		ts.Fatalf("wkd serve: the directory is running already")
	default:
		cmdWKD(ts, neg, args)
	}
}

// publish serves the keys in files for an address, in binary form as the
// draft requires, whether the files are armored or not.
func (d *scriptDirectory) publish(ts *testscript.TestScript, args []string) {
	fs := flag.NewFlagSet("wkd publish", flag.ContinueOnError)
	direct := fs.Bool("direct", false, "publish at the URL of the direct method")
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		ts.Fatalf("usage: wkd publish [-direct] ADDRESS FILE...")
	}
	var keys []byte
	for _, file := range fs.Args()[1:] {
		data, err := os.ReadFile(ts.MkAbs(file))
		ts.Check(err)
		if block, err := armor.Decode(bytes.NewReader(data)); err == nil {
			var binary bytes.Buffer
			_, err := binary.ReadFrom(block.Body)
			ts.Check(err)
			data = binary.Bytes()
		}
		keys = append(keys, data...)
	}
	ts.Check(d.server.Route(directoryURL(ts, fs.Arg(0), *direct), d.serveKey(keys)))
}

// directoryURL returns the URL of address for the advanced or the direct
// method.
func directoryURL(ts *testscript.TestScript, address string, direct bool) string {
	advanced, directURL, err := wkd.URLs(address)
	ts.Check(err)
	if direct {
		return directURL
	}
	return advanced
}

// readSecretKey reads the first key of an armored file.
func readSecretKey(ts *testscript.TestScript, file string) *openpgp.Entity {
	f, err := os.Open(ts.MkAbs(file))
	ts.Check(err)
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	ts.Check(err)
	return keys[0]
}

// editKey adds an encryption subkey to the key in args[0], or revokes it,
// and writes the secret key back and the certificate to args[1].
func editKey(ts *testscript.TestScript, op string, args []string) {
	days := 0
	if op == "extend" {
		if len(args) != 3 {
			ts.Fatalf("usage: wkd extend SECRET PUBLIC DAYS")
		}
		var err error
		days, err = strconv.Atoi(args[2])
		ts.Check(err)
		args = args[:2]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: wkd %s SECRET PUBLIC", op)
	}
	secretFile, publicFile := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	e := readSecretKey(ts, args[0])
	if e.PrivateKey == nil {
		ts.Fatalf("wkd %s: %s contains no secret key", op, args[0])
	}

	// The subkey matches the keys of keyring.Generate: ECDH over Curve25519
	// under an EdDSA primary key, RSA under an RSA one.
	config := &packet.Config{DefaultHash: crypto.SHA256, Algorithm: e.PrimaryKey.PubKeyAlgo, Curve: packet.Curve25519}
	switch op {
	case "addsubkey":
		ts.Check(e.AddEncryptionSubkey(config))
	case "revoke":
		ts.Check(e.Revoke(packet.KeySuperseded, "replaced in a test", config))
	case "extend":
		extendKey(ts, e, days)
	}

	var secret, public bytes.Buffer
	ts.Check(writeArmored(&secret, openpgp.PrivateKeyType, secretSerializer(e)))
	ts.Check(os.WriteFile(secretFile, secret.Bytes(), 0o600))
	ts.Check(writeArmored(&public, openpgp.PublicKeyType, e.Serialize))
	ts.Check(os.WriteFile(publicFile, public.Bytes(), 0o644))
}

// extendKey adds to every user ID of e a self-signature like its latest
// one, made now, with a key lifetime that ends days from now.
func extendKey(ts *testscript.TestScript, e *openpgp.Entity, days int) {
	now := time.Now().Truncate(time.Second)
	lifetime := uint32(now.Add(time.Duration(days)*24*time.Hour).Sub(e.PrimaryKey.CreationTime) / time.Second)
	for _, identity := range e.Identities {
		latest := identity.SelfCertifications[len(identity.SelfCertifications)-1].Packet
		sig := *latest
		sig.CreationTime = now
		sig.KeyLifetimeSecs = &lifetime
		ts.Check(sig.SignUserId(identity.Name, e.PrimaryKey, e.PrivateKey, &packet.Config{Time: func() time.Time { return now }}))
		identity.SelfCertifications = append(identity.SelfCertifications, packet.NewVerifiableSig(&sig))
	}
}

func countSubkeys(ts *testscript.TestScript, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: wkd subkeys FILE N")
	}
	e := readSecretKey(ts, args[0])
	if got := fmt.Sprint(len(e.Subkeys)); got != args[1] {
		ts.Fatalf("%s has %s subkeys, want %s", args[0], got, args[1])
	}
}
