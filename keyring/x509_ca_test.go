package keyring

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealmail/sealmail/internal/peers"
)

// testCA is a root and an intermediate CA made with the openssl command,
// which issues end-entity certificates with "openssl ca".
type testCA struct {
	t       *testing.T
	openssl string
	dir     string
	serial  int

	rootPEM, interPEM  string // paths
	root, intermediate *x509.Certificate
}

// certSpec describes an end-entity certificate for testCA.issue.
type certSpec struct {
	name    string // file name stem
	subject string // as "openssl req -subj" takes it
	key     string // "rsa:2048", "ec:P-256", "ed25519"
	// Extensions; an empty keyUsage or extKeyUsage leaves the extension
	// out, and "-" leaves subjectAltName out.
	keyUsage, extKeyUsage, san string
	// startDate and endDate are in the form "20240101000000Z"; empty means
	// now and a year from now.
	startDate, endDate string
	// crlURL is the URI of the CRL distribution point; empty leaves the
	// extension out.
	crlURL string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{t: t, openssl: peers.Require(t, "openssl"), dir: t.TempDir()}

	ca.writeFile("ca.ext", `[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`)
	ca.run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca.path("root.key"),
		"-out", ca.path("root.pem"), "-subj", "/CN=Sealmail Test Root", "-days", "3650",
		"-config", ca.path("ca.ext"), "-extensions", "root")
	ca.run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", ca.path("intermediate.key"),
		"-out", ca.path("intermediate.csr"), "-subj", "/CN=Sealmail Test Intermediate")
	ca.run("x509", "-req", "-in", ca.path("intermediate.csr"), "-CA", ca.path("root.pem"),
		"-CAkey", ca.path("root.key"), "-set_serial", "2", "-days", "3650", "-sha256",
		"-extfile", ca.path("ca.ext"), "-extensions", "intermediate", "-out", ca.path("intermediate.pem"))

	if err := os.Mkdir(ca.path("newcerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	ca.writeFile("index.txt", "")
	ca.writeFile("serial", "1000\n")
	ca.writeFile("crlnumber", "1000\n")
	// The CRL number and the extensions make "openssl ca -gencrl" write v2
	// CRLs, the only version Go parses.
	ca.writeFile("ca.cnf", fmt.Sprintf(`[ca]
default_ca = test
[test]
database = %[1]s/index.txt
new_certs_dir = %[1]s/newcerts
serial = %[1]s/serial
crlnumber = %[1]s/crlnumber
crl_extensions = crl_ext
default_md = sha256
default_days = 365
policy = any
unique_subject = no
[any]
commonName = supplied
emailAddress = optional
[crl_ext]
authorityKeyIdentifier = keyid:always
`, ca.dir))

	ca.rootPEM, ca.interPEM = ca.path("root.pem"), ca.path("intermediate.pem")
	ca.root = readPEMCertificate(t, ca.rootPEM)
	ca.intermediate = readPEMCertificate(t, ca.interPEM)
	return ca
}

func (ca *testCA) path(name string) string { return filepath.Join(ca.dir, name) }

func (ca *testCA) writeFile(name, content string) string {
	ca.t.Helper()
	if err := os.WriteFile(ca.path(name), []byte(content), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return ca.path(name)
}

// run runs openssl with args and returns its standard output.
func (ca *testCA) run(args ...string) []byte {
	ca.t.Helper()
	cmd := exec.Command(ca.openssl, args...)
	cmd.Dir = ca.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		ca.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// issue makes a key and a certificate for spec, signed by the intermediate
// CA, and returns the paths of the PEM certificate and key.
func (ca *testCA) issue(spec certSpec) (certPath, keyPath string) {
	ca.t.Helper()
	keyPath = ca.path(spec.name + ".key")
	certPath = ca.path(spec.name + ".pem")

	switch algorithm, parameter, _ := strings.Cut(spec.key, ":"); algorithm {
	case "rsa":
		ca.run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:"+parameter, "-out", keyPath)
	case "ec":
		ca.run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+parameter, "-out", keyPath)
	case "ed25519":
		ca.run("genpkey", "-algorithm", "ED25519", "-out", keyPath)
	default:
		ca.t.Fatalf("unknown key type %q", spec.key)
	}
	ca.run("req", "-new", "-key", keyPath, "-subj", spec.subject, "-out", ca.path(spec.name+".csr"))

	extensions := "[ee]\nbasicConstraints = CA:FALSE\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
	if spec.keyUsage != "" {
		extensions += "keyUsage = critical, " + spec.keyUsage + "\n"
	}
	if spec.extKeyUsage != "" {
		extensions += "extendedKeyUsage = " + spec.extKeyUsage + "\n"
	}
	if spec.san != "-" {
		extensions += "subjectAltName = " + spec.san + "\n"
	}
	if spec.crlURL != "" {
		extensions += "crlDistributionPoints = URI:" + spec.crlURL + "\n"
	}
	ca.writeFile(spec.name+".ext", extensions)

	args := []string{"ca", "-batch", "-notext", "-config", ca.path("ca.cnf"),
		"-cert", ca.interPEM, "-keyfile", ca.path("intermediate.key"),
		"-in", ca.path(spec.name + ".csr"), "-out", certPath,
		"-extfile", ca.path(spec.name + ".ext"), "-extensions", "ee"}
	if spec.startDate != "" {
		args = append(args, "-startdate", spec.startDate)
	}
	if spec.endDate != "" {
		args = append(args, "-enddate", spec.endDate)
	}
	ca.run(args...)
	return certPath, keyPath
}

// pkcs12 bundles the certificate, its key and the intermediate CA into a
// PKCS#12 file with OpenSSL's defaults, or with -legacy, and the password
// read from a file, and returns the bundle.
func (ca *testCA) pkcs12(certPath, keyPath, password string, legacy bool) []byte {
	ca.t.Helper()
	passwordFile := ca.writeFile("password", password+"\n")
	out := certPath + ".p12"
	args := []string{"pkcs12", "-export", "-in", certPath, "-inkey", keyPath,
		"-certfile", ca.interPEM, "-passout", "file:" + passwordFile, "-out", out}
	if legacy {
		args = append(args, "-legacy")
	}
	ca.run(args...)
	return readFile(ca.t, out)
}

// leafSpec returns the spec of a certificate for S/MIME for address with
// key, valid now.
func leafSpec(name, address, key string) certSpec {
	keyUsage := "digitalSignature, keyEncipherment"
	if strings.HasPrefix(key, "ec") {
		keyUsage = "digitalSignature, keyAgreement"
	}
	return certSpec{
		name:        name,
		subject:     "/CN=" + name,
		key:         key,
		keyUsage:    keyUsage,
		extKeyUsage: "emailProtection",
		san:         "email:" + address,
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readPEMCertificate(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readFile(t, path))
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// trustTestCA adds the root of ca to k as a trust anchor and imports the
// intermediate CA.
func trustTestCA(t *testing.T, k *Keyring, ca *testCA) {
	t.Helper()
	if _, err := k.AddTrustAnchor(context.Background(), bytes.NewReader(readFile(t, ca.rootPEM))); err != nil {
		t.Fatalf("AddTrustAnchor: %v", err)
	}
	importBytes(t, k, readFile(t, ca.interPEM))
}

// verifyOptions returns options that verify a leaf of ca against roots for
// S/MIME.
func verifyOptions(roots *x509.CertPool, ca *testCA) x509.VerifyOptions {
	intermediates := x509.NewCertPool()
	intermediates.AddCert(ca.intermediate)
	return x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
}

func TestListShowsIntermediateAsCA(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	statuses := map[string]Status{}
	for _, e := range entries {
		statuses[strings.Join(e.UserIDs, ",")] = e.Status
	}
	if got := statuses["Sealmail Test Intermediate"]; got != StatusCA {
		t.Errorf("intermediate status = %q, want %q; all: %v", got, StatusCA, statuses)
	}
}
