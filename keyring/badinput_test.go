package keyring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// treeHash returns a hash of every name, mode and content in the folders
// of the keyring in dir, to tell whether an operation changed the store.
// Files directly in dir are left out: they are caches, such as the lookup
// index, which reads may rewrite.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if filepath.Dir(path) == dir && !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(h, "%q %v\n", rel, info.Mode())
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%d %x\n", len(data), sha256.Sum256(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// populatedKeyring returns a keyring that already holds a certificate and a
// secret key, so that a bad input has something to damage.
func populatedKeyring(t *testing.T) *Keyring {
	t.Helper()
	k := openTemp(t)
	importBytes(t, k, secretBytes(t, generate(t, "Hold", "hold@example.org", GenerateOptions{})))
	importBytes(t, k, publicBytes(t, generate(t, "Peer", "peer@example.org", GenerateOptions{})))
	return k
}

func TestImportBadInputKeepsStore(t *testing.T) {
	key := generate(t, "Bad", "bad@example.org", GenerateOptions{})
	binary := publicBytes(t, key)
	armor := armored(t, openpgp.PublicKeyType, binary)
	// The start of a JPEG file (JFIF), as when a photo is given for a key.
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01}

	tests := []struct {
		name    string
		input   []byte
		opts    ImportOptions
		wantErr error  // wrapped by the error, when not nil
		want    string // in the error message
	}{
		{name: "truncated armored key", input: armor[:len(armor)*2/3], want: "truncated"},
		{name: "truncated binary key", input: binary[:len(binary)-7], want: "truncated"},
		{name: "text", input: []byte("Dear Bob,\nhere is my key.\n"), wantErr: ErrNoKey, want: "no OpenPGP key found"},
		{name: "PNG header", input: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"), wantErr: ErrNoKey, want: "not an OpenPGP key"},
		{name: "revocation with its guard colon", input: append([]byte("Use it to revoke.\n:"), armored(t, openpgp.PublicKeyType, publicBytes(t, key))...),
			wantErr: ErrNoKey, want: "delete the colon"},
		{name: "JPEG header", input: jpeg, wantErr: ErrNoKey, want: "not an OpenPGP key (armored or binary), an X.509 certificate, a PKCS#12 bundle or a mail message"},
		{name: "empty file", input: nil, wantErr: ErrNoKey, want: "no OpenPGP key found"},
		{name: "secret key for public only", input: armored(t, openpgp.PrivateKeyType, secretBytes(t, key)),
			opts: ImportOptions{PublicOnly: true}, wantErr: ErrSecretKey, want: strings.ToUpper(fingerprint(key))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := populatedKeyring(t)
			before := treeHash(t, k.dir)

			imported, err := k.ImportWithOptions(context.Background(), bytes.NewReader(tt.input), tt.opts)
			if err == nil {
				t.Fatalf("ImportWithOptions succeeded: %+v", imported)
			}
			t.Logf("error: %v", err)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if len(imported) != 0 {
				t.Errorf("ImportWithOptions reports %d keys imported", len(imported))
			}
			if after := treeHash(t, k.dir); after != before {
				t.Error("the failed import changed the keyring")
			}
		})
	}
}

func TestImportPKCS12WrongPasswordKeepsStore(t *testing.T) {
	ca := newTestCA(t)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "ec:P-256"))
	bundle := ca.pkcs12(certPath, keyPath, "s3cret", false)

	k := populatedKeyring(t)
	before := treeHash(t, k.dir)
	_, err := k.ImportWithOptions(context.Background(), bytes.NewReader(bundle),
		ImportOptions{Password: func() ([]byte, error) { return []byte("wrong"), nil }})
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("error = %v, want one that wraps ErrWrongPassphrase", err)
	}
	if after := treeHash(t, k.dir); after != before {
		t.Error("the failed import changed the keyring")
	}

	// PublicOnly rejects the bundle before the password is asked for.
	password := func() ([]byte, error) {
		t.Error("Password called with PublicOnly")
		return []byte("s3cret"), nil
	}
	_, err = k.ImportWithOptions(context.Background(), bytes.NewReader(bundle), ImportOptions{PublicOnly: true, Password: password})
	if !errors.Is(err, ErrSecretKey) {
		t.Errorf("error with PublicOnly = %v, want one that wraps ErrSecretKey", err)
	}
	if after := treeHash(t, k.dir); after != before {
		t.Error("the rejected bundle changed the keyring")
	}
}

func TestUnknownFingerprintNotFound(t *testing.T) {
	k := populatedKeyring(t)
	before := treeHash(t, k.dir)
	const unknown = "0123456789ABCDEF0123456789ABCDEF01234567"
	ctx := context.Background()

	operations := []struct {
		name string
		run  func() error
	}{
		{"show", func() error { _, err := k.Find(ctx, unknown, time.Now()); return err }},
		{"export", func() error { _, err := k.Export(ctx, unknown); return err }},
		{"remove", func() error { _, err := k.Remove(ctx, unknown); return err }},
		{"confirm", func() error { _, err := k.Confirm(ctx, unknown, []string{"bob@example.org"}, time.Now()); return err }},
		{"provenance", func() error { _, err := k.Provenance(ctx, unknown); return err }},
	}
	for _, op := range operations {
		t.Run(op.name, func(t *testing.T) {
			err := op.run()
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("error = %v, want one that wraps ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), unknown) {
				t.Errorf("error %q does not name the fingerprint", err)
			}
			if after := treeHash(t, k.dir); after != before {
				t.Error("the failed operation changed the keyring")
			}
		})
	}
}
