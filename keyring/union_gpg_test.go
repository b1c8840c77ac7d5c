package keyring

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests store keys with packets that the OpenPGP library does not
// read, made by gpg, and check that every write keeps them.

// gpgAddPhoto adds a small JPEG photo ID to the gpg key fpr, as "gpg
// --edit-key FPR addphoto" does for a user.
func gpgAddPhoto(t *testing.T, gpg *gpgRunner, fpr string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, img, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, photo.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	gpg.run(t, []byte("addphoto\n"+path+"\nsave\n"), "--command-fd", "0", "--edit-key", fpr)
	if !strings.Contains(gpgPackets(t, gpg, gpg.run(t, nil, "--export", fpr)), ":attribute packet:") {
		t.Fatal("gpg did not add the photo ID")
	}
}

// gpgPackets returns the output of "gpg --list-packets" for data.
func gpgPackets(t *testing.T, gpg *gpgRunner, data []byte) string {
	t.Helper()
	return string(gpg.run(t, data, "--list-packets"))
}

// placeCert writes data as the certificate fpr, as another cert-d tool
// would.
func placeCert(t *testing.T, k *Keyring, fpr string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(k.certPath(fpr)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.certPath(fpr), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedCert returns the bytes of the stored certificate fpr.
func storedCert(t *testing.T, k *Keyring, fpr string) []byte {
	t.Helper()
	data, err := os.ReadFile(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestUnionKeepsStoredPhotoID(t *testing.T) {
	gpg := newGPG(t)
	fpr := gpgKey(t, gpg, "Pat <pat@example.org>")
	gpgAddPhoto(t, gpg, fpr)
	withPhoto := gpg.run(t, nil, "--export", fpr)
	gpg.run(t, nil, "--quick-add-key", fpr, "ed25519", "sign", "never")
	newer := gpg.run(t, nil, "--export", fpr)

	k := openTemp(t)
	placeCert(t, k, fpr, withPhoto)
	imported := importBytes(t, k, newer)
	if len(imported) != 1 || !imported[0].Updated || imported[0].Unchanged {
		t.Fatalf("Import of the new subkey = %+v, want an update", imported)
	}

	if packets := gpgPackets(t, gpg, storedCert(t, k, fpr)); !strings.Contains(packets, ":attribute packet:") {
		t.Errorf("the stored certificate lost the photo ID:\n%s", packets)
	}
	checkHasPackets(t, k, fpr, newer)
	checkHasPackets(t, k, fpr, withPhoto)

	listing := gpgListing(t, k, fpr)
	if n := countRecords(listing, "uat"); n != 1 {
		t.Errorf("gpg lists %d photo IDs in the export, want 1", n)
	}
	if n := countRecords(listing, "sub"); n != 2 {
		t.Errorf("gpg lists %d subkeys in the export, want 2", n)
	}
	if _, err := k.EncryptionKey(context.Background(), "pat@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey: %v", err)
	}
}

func TestImportKeepsPhotoID(t *testing.T) {
	gpg := newGPG(t)
	fpr := gpgKey(t, gpg, "Pia <pia@example.org>")
	gpgAddPhoto(t, gpg, fpr)
	export := gpg.run(t, nil, "--export", fpr)

	k := openTemp(t)
	importBytes(t, k, export)
	checkHasPackets(t, k, fpr, export)
	if n := countRecords(gpgListing(t, k, fpr), "uat"); n != 1 {
		t.Errorf("gpg lists %d photo IDs in the export, want 1", n)
	}
}

func TestImportDropsForeignAttribute(t *testing.T) {
	gpg := newGPG(t)
	victim := gpgKey(t, gpg, "Vic <vic@example.org>")
	other := gpgKey(t, gpg, "Oz <oz@example.org>")
	gpgAddPhoto(t, gpg, other)
	export := gpg.run(t, nil, "--export", victim)

	// The photo ID block of the other key, signed by that key, is put after
	// the user ID of the victim's key.
	otherPackets, err := splitComponents(gpg.run(t, nil, "--export", other))
	if err != nil {
		t.Fatal(err)
	}
	var attribute []component
	for _, c := range otherPackets {
		if c.tag() == tagUserAttribute {
			attribute = append(attribute, c)
		}
	}
	victimPackets, err := splitComponents(export)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := joinComponents(append(victimPackets[:2:2], append(attribute, victimPackets[2:]...)...))
	if err != nil {
		t.Fatal(err)
	}

	k := openTemp(t)
	importBytes(t, k, forged)
	if packets := gpgPackets(t, gpg, storedCert(t, k, victim)); strings.Contains(packets, ":attribute packet:") {
		t.Errorf("a photo ID that the key did not sign was stored:\n%s", packets)
	}
}

func TestUnionKeepsThirdPartyCertification(t *testing.T) {
	gpg := newGPG(t)
	fpr, older, _ := gpgKeyVersions(t, gpg, "Tia <tia@example.org>")
	signer := gpgKey(t, gpg, "Sig <sig@example.org>")
	gpg.run(t, nil, "--local-user", signer, "--quick-sign-key", fpr)
	certified := gpg.run(t, nil, "--export", fpr)
	if packets := gpgPackets(t, gpg, certified); !strings.Contains(packets, "sigclass 0x10") {
		t.Fatalf("gpg made no certification:\n%s", packets)
	}

	k := openTemp(t)
	placeCert(t, k, fpr, certified)
	for _, export := range [][]byte{older, certified} {
		importBytes(t, k, export)
		checkHasPackets(t, k, fpr, certified)
	}
}

func TestImportUnchangedGPGExport(t *testing.T) {
	gpg := newGPG(t)
	fpr := gpgKey(t, gpg, "Una <una@example.org>")
	gpgAddPhoto(t, gpg, fpr)
	export := gpg.run(t, nil, "--export", fpr)

	k := openTemp(t)
	placeCert(t, k, fpr, export)
	before, err := os.Stat(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a rewrite then shows in the modification time

	imported := importBytes(t, k, export)
	if len(imported) != 1 || !imported[0].Unchanged {
		t.Errorf("Import of the stored bytes = %+v, want unchanged", imported)
	}
	if !bytes.Equal(storedCert(t, k, fpr), export) {
		t.Error("the import rewrote the certificate")
	}
	after, err := os.Stat(k.certPath(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("the import replaced the certificate file")
	}
}

func TestImportSecretNewProtection(t *testing.T) {
	gpg := newGPG(t)
	fpr := gpgKey(t, gpg, "Pam <pam@example.org>")
	unprotected := gpg.run(t, nil, "--export-secret-keys", fpr)

	k := openTemp(t)
	imported := importBytes(t, k, unprotected)
	if !strings.Contains(imported[0].Warning, "not protected") {
		t.Fatalf("Warning %q does not report the unprotected key", imported[0].Warning)
	}

	// The user follows the warning: a passphrase in gpg, then a new export.
	gpg.run(t, nil, "--passphrase", "new passphrase", "--passwd", fpr)
	protected := gpg.run(t, nil, "--passphrase", "new passphrase", "--export-secret-keys", fpr)
	imported = importBytes(t, k, protected)
	if len(imported) != 1 || imported[0].Unchanged || !imported[0].NewProtection {
		t.Errorf("Import after gpg --passwd = %+v, want an update with new protection", imported)
	}
	if strings.Contains(imported[0].Warning, "not protected") {
		t.Errorf("Warning %q still reports the key unprotected", imported[0].Warning)
	}

	secret, err := k.readSecret(fpr)
	if err != nil {
		t.Fatal(err)
	}
	if !Locked(secret) {
		t.Fatal("the stored secret key is not protected")
	}
	if err := Unlock(secret, []byte("new passphrase")); err != nil {
		t.Errorf("Unlock with the new passphrase: %v", err)
	}

	// A stub never replaces key material.
	importBytes(t, k, gpg.run(t, nil, "--passphrase", "new passphrase", "--export-secret-subkeys", fpr))
	secret, err = k.readSecret(fpr)
	if err != nil {
		t.Fatal(err)
	}
	if secret.PrivateKey.Dummy() {
		t.Error("the stub replaced the primary secret key")
	}
	if err := Unlock(secret, []byte("new passphrase")); err != nil {
		t.Errorf("Unlock after importing the stub: %v", err)
	}
}
