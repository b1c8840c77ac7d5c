package keyring

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestListFindExportRemoveX509(t *testing.T) {
	ca := newTestCA(t)
	k := openTemp(t)
	trustTestCA(t, k, ca)
	certPath, keyPath := ca.issue(leafSpec("alice", "alice@example.org", "rsa:3072"))
	if _, err := k.ImportWithOptions(context.Background(), bytes.NewReader(ca.pkcs12(certPath, keyPath, "pw", false)),
		ImportOptions{Password: func() ([]byte, error) { return []byte("pw"), nil }}); err != nil {
		t.Fatal(err)
	}
	leaf := readPEMCertificate(t, certPath)
	fpr := certFingerprint(leaf)
	ctx := context.Background()

	entries, err := k.List(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	byFingerprint := make(map[string]Entry)
	for _, entry := range entries {
		byFingerprint[entry.Fingerprint] = entry
	}
	alice := byFingerprint[fpr]
	if alice.Kind != KindX509 || alice.Status != StatusValid || !alice.Secret || alice.Algorithm != "rsa3072" {
		t.Errorf("List entry of alice = %+v, want a valid x509 rsa3072 entry with Secret", alice)
	}
	if len(alice.Addresses) != 1 || alice.Addresses[0] != "alice@example.org" {
		t.Errorf("Addresses = %q, want alice@example.org", alice.Addresses)
	}
	if !alice.Created.Equal(leaf.NotBefore) || alice.Expires == nil || !alice.Expires.Equal(leaf.NotAfter) {
		t.Errorf("Created, Expires = %v, %v, want NotBefore and NotAfter", alice.Created, alice.Expires)
	}
	if root := byFingerprint[certFingerprint(ca.root)]; root.Status != StatusAnchor {
		t.Errorf("List status of the root = %q, want %q", root.Status, StatusAnchor)
	}
	if _, ok := byFingerprint[certFingerprint(ca.intermediate)]; !ok {
		t.Error("List does not show the intermediate CA")
	}

	found, err := k.Find(ctx, "ALICE@example.org", time.Now())
	if err != nil || len(found) != 1 || found[0].Fingerprint != fpr {
		t.Errorf("Find by address = %+v, %v, want alice", found, err)
	}
	found, err = k.Find(ctx, "0x"+fpr, time.Now())
	if err != nil || len(found) != 1 || found[0].Fingerprint != fpr {
		t.Errorf("Find by fingerprint = %+v, %v, want alice", found, err)
	}

	der, err := k.Export(ctx, fpr)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if !bytes.Equal(der, leaf.Raw) {
		t.Error("Export did not return the DER certificate")
	}

	removedSecret, err := k.Remove(ctx, fpr)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if !removedSecret {
		t.Error("Remove did not report the identity")
	}
	for _, path := range []string{k.x509Path(fpr, false), k.identityPath(fpr)} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Remove", filepath.Base(path))
		}
	}
	if _, err := k.Export(ctx, fpr); !errors.Is(err, ErrNotFound) {
		t.Errorf("Export after Remove: error = %v, want ErrNotFound", err)
	}
	if _, err := k.Remove(ctx, fpr); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: error = %v, want ErrNotFound", err)
	}
}

func TestListUnreadableX509(t *testing.T) {
	k := openTemp(t)
	cert, _ := selfSignedCertificate(t)
	importBytes(t, k, cert)
	fpr := certFingerprint(mustParse(t, cert))
	if err := os.WriteFile(k.x509Path(fpr, false), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Status != StatusUnreadable || entries[0].Kind != KindX509 {
		t.Fatalf("List = %+v, want one unreadable x509 entry", entries)
	}
	_, err = k.RecipientCertificate(context.Background(), "xena@example.org", time.Now(), CertPolicy{})
	var lookup *LookupError
	if !errors.As(err, &lookup) || len(lookup.Unreadable) != 1 {
		t.Errorf("RecipientCertificate error = %v, want a *LookupError naming the unreadable file", err)
	}

	// Importing the certificate again replaces the damaged file.
	importBytes(t, k, cert)
	if entries, _ := k.List(context.Background(), time.Now()); len(entries) != 1 || entries[0].Status == StatusUnreadable {
		t.Errorf("List after a new import = %+v, want the certificate", entries)
	}
}
