package keyring

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// These tests read the certificate directory as another implementation of
// the shared OpenPGP certificate directory (draft-nwjw-openpgp-cert-d)
// would, without the keyring's own reading code. By the draft, a
// certificate lives at "<first two hex digits>/<the other digits>" of its
// lowercase fingerprint (40 digits for v4, 64 for v6), and its content is
// one binary transferable public key with that fingerprint. Readers skip
// every other name, and writers hold the flock on "writelock".
//
// NOTE: no peer reads the directory here. Debian's sq 0.27 is stateless: it
// has no --cert-store option and does not read PGP_CERT_D.

// isCertDirHex reports whether s is non-empty lowercase hex.
func isCertDirHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// certDirReader returns the certificates in the certificate directory dir
// by the draft's naming rules, by fingerprint, and the names it skipped.
func certDirReader(t *testing.T, dir string) (certs map[string][]byte, skipped []string) {
	t.Helper()
	certs = make(map[string][]byte)
	top, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range top {
		if !entry.IsDir() || len(entry.Name()) != 2 || !isCertDirHex(entry.Name()) {
			skipped = append(skipped, entry.Name())
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			name := entry.Name() + file.Name()
			if (len(name) != 40 && len(name) != 64) || !isCertDirHex(name) || !file.Type().IsRegular() {
				skipped = append(skipped, entry.Name()+"/"+file.Name())
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, entry.Name(), file.Name()))
			if err != nil {
				t.Fatal(err)
			}
			certs[name] = data
		}
	}
	return certs, skipped
}

// checkCertificateFile checks that data is one binary transferable public
// key with fingerprint fpr, without secret key material.
func checkCertificateFile(t *testing.T, fpr string, data []byte) {
	t.Helper()
	if len(data) == 0 || data[0]&0x80 == 0 {
		t.Errorf("%s: the file is not binary OpenPGP", fpr)
		return
	}

	packets := packet.NewOpaqueReader(bytes.NewReader(data))
	for {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: failed to read a packet: %v", fpr, err)
			return
		}
		// Tags 5 and 7 are the secret key and secret subkey packets.
		if p.Tag == 5 || p.Tag == 7 {
			t.Errorf("%s: the file contains a secret key packet (tag %d)", fpr, p.Tag)
		}
	}

	r := packet.NewReader(bytes.NewReader(data))
	e, err := openpgp.ReadEntity(r)
	if err != nil {
		t.Errorf("%s: the file is not a transferable public key: %v", fpr, err)
		return
	}
	if got := hexFingerprint(e.PrimaryKey.Fingerprint); got != fpr {
		t.Errorf("file %s contains key %s", fpr, got)
	}
	if e.PrivateKey != nil {
		t.Errorf("%s: the file contains a secret key", fpr)
	}
	if _, err := openpgp.ReadEntity(r); err != io.EOF {
		t.Errorf("%s: the file contains more than one key (%v)", fpr, err)
	}
}

func TestCertDirFollowsDraft(t *testing.T) {
	k := openTemp(t)
	v4 := generate(t, "Vera", "vera@example.org", GenerateOptions{})
	v6 := generate(t, "Sixten", "sixten@example.org", GenerateOptions{V6: true})
	rsa := generate(t, "Rasmus", "rasmus@example.org", GenerateOptions{RSABits: 2048})
	// Secret keys, whose secret key material must stay out of the
	// certificate directory.
	importBytes(t, k, secretBytes(t, v4))
	importBytes(t, k, secretBytes(t, v6))
	importBytes(t, k, publicBytes(t, rsa))

	certs, skipped := certDirReader(t, k.certDir)
	want := map[string]int{fingerprint(v4): 40, fingerprint(v6): 64, fingerprint(rsa): 40}
	for fpr, digits := range want {
		data, ok := certs[fpr]
		if !ok {
			t.Errorf("no certificate file named %s/%s", fpr[:2], fpr[2:])
			continue
		}
		if len(fpr) != digits {
			t.Errorf("fingerprint %s has %d digits, want %d", fpr, len(fpr), digits)
		}
		checkCertificateFile(t, fpr, data)
	}
	if len(certs) != len(want) {
		t.Errorf("the directory holds %d certificates, want %d", len(certs), len(want))
	}
	// Besides the writelock and the trust root, the draft allows only names
	// that start with "_", which it reserves for the files of an
	// implementation.
	for _, name := range skipped {
		if name != writeLockName && name != "trust-root" && !strings.HasPrefix(name, "_") {
			t.Errorf("the directory contains %q, which is neither a certificate nor a name the draft allows", name)
		}
	}

	info, err := os.Stat(filepath.Join(k.certDir, writeLockName))
	if err != nil {
		t.Fatalf("no writelock after a write: %v", err)
	}
	if !info.Mode().IsRegular() {
		t.Errorf("writelock is not a regular file: %v", info.Mode())
	}

	// Nothing anywhere under the certificate directory contains secret key
	// material, whatever its name.
	err = filepath.WalkDir(k.certDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, secretKeyMaterial(t, v4)) || bytes.Contains(data, secretKeyMaterial(t, v6)) {
			t.Errorf("%s contains secret key material", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// secretKeyMaterial returns the body of the secret key packet of e, without
// its header, to search files for.
func secretKeyMaterial(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	packets := packet.NewOpaqueReader(bytes.NewReader(secretBytes(t, e)))
	p, err := packets.Next()
	if err != nil || p.Tag != 5 {
		t.Fatalf("the first packet of the secret key is not a secret key packet: %v", err)
	}
	return p.Contents
}

func TestTemporaryFilesInvisibleToReaders(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Tilda", "tilda@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	fpr := fingerprint(e)

	// A temporary file named as writeFileAtomic names it, left by a writer
	// killed before its rename, with a partial certificate in it.
	tmp, err := os.CreateTemp(filepath.Dir(k.certPath(fpr)), temporaryPrefix+fpr[2:]+"-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(publicBytes(t, e)[:10]); err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	name := filepath.Base(tmp.Name())
	if !isTemporaryName(name) {
		t.Errorf("isTemporaryName(%q) = false for a name that os.CreateTemp made", name)
	}

	certs, skipped := certDirReader(t, k.certDir)
	if len(certs) != 1 {
		t.Errorf("a draft reader finds %d certificates, want 1", len(certs))
	}
	found := false
	for _, path := range skipped {
		found = found || strings.HasSuffix(path, name)
	}
	if !found {
		t.Errorf("a draft reader does not skip the temporary file %s (skipped %q)", name, skipped)
	}

	fprs, err := k.certFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	if len(fprs) != 1 || fprs[0] != fpr {
		t.Errorf("certFingerprints = %q, want only %s", fprs, fpr)
	}
}
