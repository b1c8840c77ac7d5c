package smime

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"

	"github.com/sealmail/sealmail/internal/peers"
	"github.com/sealmail/sealmail/internal/rawmime"
)

// testChain returns a certificate for alice@example.org, the intermediate
// CA and the root, in that order.
func testChain(t *testing.T) []*x509.Certificate {
	t.Helper()
	pki := newTestPKI(t)
	signer := pki.issue(t, kindP256, "alice@example.org")
	return []*x509.Certificate{signer.Certificate, pki.intermediate, pki.root}
}

func certsOnly(t *testing.T, certs []*x509.Certificate) []byte {
	t.Helper()
	der, err := CertsOnly(certs)
	if err != nil {
		t.Fatalf("CertsOnly failed: %v", err)
	}
	return der
}

// sameCertificates reports whether got contains each certificate of want
// once, in any order, and no other.
func sameCertificates(got, want []*x509.Certificate) bool {
	var distinct []*x509.Certificate
	for _, w := range want {
		if !slices.ContainsFunc(distinct, w.Equal) {
			distinct = append(distinct, w)
		}
	}
	if len(got) != len(distinct) {
		return false
	}
	for _, w := range distinct {
		if !slices.ContainsFunc(got, w.Equal) {
			return false
		}
	}
	return true
}

func TestCertsOnlyStructure(t *testing.T) {
	chain := testChain(t)
	leaf := chain[0]
	der := certsOnly(t, []*x509.Certificate{leaf, chain[1], leaf, chain[2]})

	var info contentInfo
	rest, err := asn1.Unmarshal(der, &info)
	if err != nil {
		t.Fatalf("ContentInfo does not parse: %v", err)
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes follow the ContentInfo", len(rest))
	}
	if !info.ContentType.Equal(oidSignedData) {
		t.Fatalf("contentType = %v, want id-signedData", info.ContentType)
	}

	var signed struct {
		Version          int
		DigestAlgorithms []algorithmIdentifier `asn1:"set"`
		EncapContentInfo encapsulatedContentInfo
		Certificates     asn1.RawValue
		SignerInfos      []asn1.RawValue `asn1:"set"`
	}
	if _, err := asn1.Unmarshal(info.Content.Bytes, &signed); err != nil {
		t.Fatalf("SignedData does not parse: %v", err)
	}
	if signed.Version != 1 {
		t.Errorf("version = %d, want 1", signed.Version)
	}
	if len(signed.DigestAlgorithms) != 0 {
		t.Errorf("digestAlgorithms has %d entries, want none", len(signed.DigestAlgorithms))
	}
	if !signed.EncapContentInfo.EContentType.Equal(oidData) {
		t.Errorf("eContentType = %v, want id-data", signed.EncapContentInfo.EContentType)
	}
	if len(signed.EncapContentInfo.EContent.FullBytes) != 0 {
		t.Errorf("eContent is present, want it absent")
	}
	if len(signed.SignerInfos) != 0 {
		t.Errorf("signerInfos has %d entries, want none", len(signed.SignerInfos))
	}
	if signed.Certificates.Class != asn1.ClassContextSpecific || signed.Certificates.Tag != 0 || !signed.Certificates.IsCompound {
		t.Fatalf("certificates field has class %d tag %d, want [0] IMPLICIT SET OF", signed.Certificates.Class, signed.Certificates.Tag)
	}

	certs, err := x509.ParseCertificates(signed.Certificates.Bytes)
	if err != nil {
		t.Fatalf("certificates do not parse: %v", err)
	}
	if !sameCertificates(certs, chain) {
		t.Errorf("certificates are %d, want the 3 of the chain without the duplicate leaf", len(certs))
	}
	if !slices.IsSortedFunc(certs, func(a, b *x509.Certificate) int { return bytes.Compare(a.Raw, b.Raw) }) {
		t.Errorf("certificates are not in the ascending order of their encodings that DER requires of a SET OF")
	}
}

func TestCertsOnlyOrderDoesNotMatter(t *testing.T) {
	chain := testChain(t)
	want := certsOnly(t, chain)
	reversed := []*x509.Certificate{chain[2], chain[1], chain[0]}
	if got := certsOnly(t, reversed); !bytes.Equal(got, want) {
		t.Errorf("CertsOnly of the reversed chain differs from CertsOnly of the chain")
	}
}

func TestCertsOnlyPkcs7Parse(t *testing.T) {
	chain := testChain(t)
	p7, err := pkcs7.Parse(certsOnly(t, chain))
	if err != nil {
		t.Fatalf("pkcs7.Parse failed: %v", err)
	}
	if !sameCertificates(p7.Certificates, chain) {
		t.Errorf("pkcs7.Parse returns %d certificates, want the 3 of the chain", len(p7.Certificates))
	}
	if len(p7.Signers) != 0 {
		t.Errorf("pkcs7.Parse returns %d signers, want none", len(p7.Signers))
	}
	if len(p7.Content) != 0 {
		t.Errorf("pkcs7.Parse returns %d octets of content, want none", len(p7.Content))
	}
}

func TestCertsOnlyInvalidInput(t *testing.T) {
	chain := testChain(t)
	tests := []struct {
		name  string
		certs []*x509.Certificate
		want  string
	}{
		{"nil list", nil, "pass the sender's certificate and its chain"},
		{"empty list", []*x509.Certificate{}, "pass the sender's certificate and its chain"},
		{"nil certificate", []*x509.Certificate{chain[0], nil}, "certificate 2 of 2 for a certs-only SignedData is nil"},
		{"no DER encoding", []*x509.Certificate{{}}, "pass certificates from x509.ParseCertificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := CertsOnly(tt.certs)
			if err == nil {
				t.Fatalf("CertsOnly returned %d octets, want an error", len(der))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteCertsOnly(t *testing.T) {
	chain := testChain(t)
	tests := []struct {
		name      string
		opts      *Options
		mediaType string
	}{
		{"nil options", nil, "application/pkcs7-mime"},
		{"legacy types", &Options{LegacyTypes: true}, "application/x-pkcs7-mime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteCertsOnly(&out, chain, tt.opts); err != nil {
				t.Fatalf("WriteCertsOnly failed: %v", err)
			}
			part := out.Bytes()
			checkWire(t, part)

			wantHeader := "Content-Type: " + tt.mediaType + "; smime-type=certs-only; name=\"smime.p7c\"\r\n" +
				"Content-Transfer-Encoding: base64\r\n" +
				"Content-Disposition: attachment; filename=\"smime.p7c\"\r\n" +
				"\r\n"
			if !bytes.HasPrefix(part, []byte(wantHeader)) {
				header, _, _ := bytes.Cut(part, []byte("\r\n\r\n"))
				t.Errorf("header is\n%s\nwant\n%s", header, wantHeader)
			}
			for i, line := range bytes.Split(bytes.TrimSuffix(part[len(wantHeader):], []byte("\r\n")), []byte("\r\n")) {
				if len(line) > base64LineLength {
					t.Errorf("body line %d has %d characters, more than %d", i+1, len(line), base64LineLength)
				}
			}
			for _, b := range part {
				if b >= 0x80 {
					t.Fatalf("part contains the 8-bit octet 0x%02x", b)
				}
			}

			entity, err := rawmime.ParseEntity(part)
			if err != nil {
				t.Fatalf("part does not parse: %v", err)
			}
			decoded, err := entity.DecodedBody()
			if err != nil {
				t.Fatalf("body does not decode: %v", err)
			}
			if !bytes.Equal(decoded, certsOnly(t, chain)) {
				t.Errorf("decoded body differs from CertsOnly of the same certificates")
			}
		})
	}
}

func TestWriteCertsOnlyNoCertificates(t *testing.T) {
	var out bytes.Buffer
	if err := WriteCertsOnly(&out, nil, nil); err == nil {
		t.Fatal("WriteCertsOnly without certificates succeeded, want an error")
	}
	if out.Len() != 0 {
		t.Errorf("WriteCertsOnly wrote %d octets before failing, want none", out.Len())
	}
}

// writeCertsOnlyFile writes CertsOnly(certs) to a file in a new folder and
// returns its path.
func writeCertsOnlyFile(t *testing.T, certs []*x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smime.p7c")
	if err := os.WriteFile(path, certsOnly(t, certs), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pemCertificates returns the certificates of the CERTIFICATE blocks in
// data.
func pemCertificates(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("openssl printed a certificate that does not parse: %v", err)
		}
		certs = append(certs, cert)
	}
}

func TestCertsOnlyOpenSSLPrintCerts(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	chain := testChain(t)
	path := writeCertsOnlyFile(t, chain)

	out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", path, "-print_certs").Output()
	if err != nil {
		t.Fatalf("openssl pkcs7 -print_certs failed: %v", err)
	}
	if got := pemCertificates(t, out); !sameCertificates(got, chain) {
		t.Errorf("openssl lists %d certificates, want the 3 of the chain:\n%s", len(got), out)
	}
}

func TestCertsOnlyOpenSSLNoSignerInfos(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	path := writeCertsOnlyFile(t, testChain(t))

	out, err := exec.Command(openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", path).Output()
	if err != nil {
		t.Fatalf("openssl cms -cmsout -print failed: %v", err)
	}
	printed := string(out)
	for _, want := range []string{
		"version: 1\n",
		"digestAlgorithms:\n      <EMPTY>\n",
		"eContentType: pkcs7-data (1.2.840.113549.1.7.1)\n      eContent: <ABSENT>\n",
		"signerInfos:\n      <EMPTY>\n",
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("openssl cms -print does not show %q:\n%s", want, printed)
		}
	}
}

// TestWriteCertsOnlyOpenSSL has openssl read the certificates from the
// MIME part, as a receiver of the message does.
func TestWriteCertsOnlyOpenSSL(t *testing.T) {
	openssl := peers.Require(t, "openssl")
	chain := testChain(t)
	var part bytes.Buffer
	if err := WriteCertsOnly(&part, chain, nil); err != nil {
		t.Fatal(err)
	}
	message := writeMessage(t, t.TempDir(), part.Bytes())

	extract := exec.Command(openssl, "smime", "-pk7out", "-in", message)
	signedData, err := extract.Output()
	if err != nil {
		t.Fatalf("openssl smime -pk7out failed: %v", err)
	}
	print := exec.Command(openssl, "pkcs7", "-print_certs")
	print.Stdin = bytes.NewReader(signedData)
	out, err := print.Output()
	if err != nil {
		t.Fatalf("openssl pkcs7 -print_certs failed: %v", err)
	}
	if got := pemCertificates(t, out); !sameCertificates(got, chain) {
		t.Errorf("openssl lists %d certificates, want the 3 of the chain:\n%s", len(got), out)
	}
}

func TestCertsOnlyGpgsmImport(t *testing.T) {
	pki := newTestPKI(t)
	home := newGpgsmHome(t, pki)
	chain := testChain(t)
	path := writeCertsOnlyFile(t, chain)

	// dirmngr is of no use to an import, and the test starts no server.
	cmd := exec.Command("gpgsm", "--batch", "--disable-dirmngr", "--status-fd", "1", "--import", path)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gpgsm --import failed: %v\n%s", err, out)
	}
	// gpgsm reports each certificate it read with IMPORT_OK and its SHA-1
	// fingerprint: 1 for a new one, 0 for one it had, such as the root
	// that newGpgsmHome imported.
	for _, cert := range chain {
		fingerprint := sha1.Sum(cert.Raw)
		status := fmt.Sprintf("[GNUPG:] IMPORT_OK %d %s\n", importFlag(cert, pki), strings.ToUpper(hex.EncodeToString(fingerprint[:])))
		if !bytes.Contains(out, []byte(status)) {
			t.Errorf("gpgsm output lacks %q for %q:\n%s", strings.TrimSpace(status), cert.Subject.String(), out)
		}
	}

	list := exec.Command("gpgsm", "--batch", "--disable-dirmngr", "--with-colons", "--list-keys")
	list.Env = append(os.Environ(), "GNUPGHOME="+home)
	listing, err := list.Output()
	if err != nil {
		t.Fatalf("gpgsm --list-keys failed: %v", err)
	}
	for _, cert := range chain {
		fingerprint := sha1.Sum(cert.Raw)
		if !bytes.Contains(listing, []byte(":"+strings.ToUpper(hex.EncodeToString(fingerprint[:]))+":")) {
			t.Errorf("gpgsm does not list %q after the import:\n%s", cert.Subject.String(), listing)
		}
	}
}

// importFlag returns the IMPORT_OK flag gpgsm reports for cert: 0 for the
// root, which newGpgsmHome imported already, and 1 for a new certificate.
func importFlag(cert *x509.Certificate, pki *testPKI) int {
	if cert.Equal(pki.root) {
		return 0
	}
	return 1
}

// FuzzCertsOnly checks that any certificates Go parses come back whole
// from the DER that CertsOnly writes, read with encoding/asn1. It does not
// use smallstep pkcs7.Parse, whose BER conversion rejects some certificates
// that crypto/x509 accepts, such as one with a BIT STRING of length zero.
// The unit tests above read real certificates with pkcs7.Parse.
func FuzzCertsOnly(f *testing.F) {
	pki := newTestPKI(f)
	signer := pki.issue(f, kindP256, "alice@example.org")
	f.Add(signer.Certificate.Raw)
	f.Add(slices.Concat(signer.Certificate.Raw, pki.intermediate.Raw, pki.root.Raw))
	f.Add(slices.Concat(pki.root.Raw, pki.root.Raw))

	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := x509.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return
		}
		der, err := CertsOnly(certs)
		if err != nil {
			t.Fatalf("CertsOnly of %d parsed certificates failed: %v", len(certs), err)
		}
		var outer contentInfo
		if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) != 0 {
			t.Fatalf("the ContentInfo of CertsOnly does not decode: %v (%d bytes left)", err, len(rest))
		}
		if !outer.ContentType.Equal(oidSignedData) {
			t.Fatalf("the content type is %v, want signedData", outer.ContentType)
		}
		var explicit asn1.RawValue
		if _, err := asn1.Unmarshal(outer.Content.FullBytes, &explicit); err != nil {
			t.Fatalf("the [0] content does not decode: %v", err)
		}
		var signed signedData
		if rest, err := asn1.Unmarshal(explicit.Bytes, &signed); err != nil || len(rest) != 0 {
			t.Fatalf("the SignedData does not decode: %v (%d bytes left)", err, len(rest))
		}
		if len(signed.SignerInfos) != 0 || len(signed.DigestAlgorithms) != 0 {
			t.Errorf("the SignedData has %d signer infos and %d digest algorithms, want none", len(signed.SignerInfos), len(signed.DigestAlgorithms))
		}
		got, err := x509.ParseCertificates(signed.Certificates.Bytes)
		if err != nil {
			t.Fatalf("the certificates of CertsOnly do not parse: %v", err)
		}
		if !sameCertificates(got, certs) {
			t.Errorf("CertsOnly holds %d certificates, want each of the %d given once", len(got), len(certs))
		}
	})
}
