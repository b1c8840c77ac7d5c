package keyring

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func openTemp(t *testing.T) *Keyring {
	t.Helper()
	k, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return k
}

func generate(t *testing.T, name, address string, opts GenerateOptions) *openpgp.Entity {
	t.Helper()
	e, err := Generate(name, address, opts)
	if err != nil {
		t.Fatalf("Generate(%q): %v", address, err)
	}
	return e
}

// publicBytes returns the binary certificate of e.
func publicBytes(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	return buf.Bytes()
}

// secretBytes returns the binary transferable secret key of e as it is.
func secretBytes(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&buf, nil); err != nil {
		t.Fatalf("SerializePrivateWithoutSigning: %v", err)
	}
	return buf.Bytes()
}

func armored(t *testing.T, blockType string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		t.Fatalf("armor.Encode: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("armor write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("armor close: %v", err)
	}
	return buf.Bytes()
}

func importBytes(t *testing.T, k *Keyring, data []byte) []Imported {
	t.Helper()
	imported, err := k.Import(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return imported
}

func fingerprint(e *openpgp.Entity) string {
	return hexFingerprint(e.PrimaryKey.Fingerprint)
}

// lookupError returns err as a *LookupError, failing the test otherwise.
func lookupError(t *testing.T, err error) *LookupError {
	t.Helper()
	var lookup *LookupError
	if !errors.As(err, &lookup) {
		t.Fatalf("error %v (%T) is not a *LookupError", err, err)
	}
	return lookup
}

func TestImportArmoredTwoBlocks(t *testing.T) {
	k := openTemp(t)
	alice := generate(t, "Alice", "alice@example.org", GenerateOptions{})
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{})

	var input bytes.Buffer
	input.WriteString("Here are our keys.\n\n")
	input.Write(armored(t, openpgp.PublicKeyType, publicBytes(t, alice)))
	input.WriteString("\nand the second one:\n")
	input.Write(armored(t, openpgp.PublicKeyType, publicBytes(t, bob)))

	imported := importBytes(t, k, input.Bytes())
	if len(imported) != 2 {
		t.Fatalf("Import stored %d keys, want 2: %+v", len(imported), imported)
	}
	for _, e := range []*openpgp.Entity{alice, bob} {
		address := e.Identities[userIDs(e)[0]].UserId.Email
		got, err := k.EncryptionKey(context.Background(), strings.ToUpper(address), time.Now())
		if err != nil {
			t.Fatalf("EncryptionKey(%q): %v", address, err)
		}
		if fingerprint(got) != fingerprint(e) {
			t.Errorf("EncryptionKey(%q) = %s, want %s", address, fingerprint(got), fingerprint(e))
		}
	}
}

func TestImportBinaryTwoKeys(t *testing.T) {
	k := openTemp(t)
	alice := generate(t, "Alice", "alice@example.org", GenerateOptions{})
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{RSABits: 2048})

	input := append(publicBytes(t, alice), publicBytes(t, bob)...)
	imported := importBytes(t, k, input)
	if len(imported) != 2 {
		t.Fatalf("Import stored %d keys, want 2", len(imported))
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(entries) != 2 {
		t.Fatalf("List returned %d entries, want 2", len(entries))
	}
	if entries[0].Addresses[0] != "alice@example.org" || entries[1].Addresses[0] != "bob@example.org" {
		t.Errorf("List order = %v, %v; want alice, then bob", entries[0].Addresses, entries[1].Addresses)
	}
	if entries[0].Algorithm != "ed25519" {
		t.Errorf("alice's algorithm = %q, want ed25519", entries[0].Algorithm)
	}
	if entries[1].Algorithm != "rsa2048" {
		t.Errorf("bob's algorithm = %q, want rsa2048", entries[1].Algorithm)
	}
	for _, entry := range entries {
		if entry.Status != StatusValid {
			t.Errorf("status of %s = %q, want valid", entry.Fingerprint, entry.Status)
		}
		if entry.Secret {
			t.Errorf("%s is listed as secret", entry.Fingerprint)
		}
	}
}

func TestImportSecretKeyUnlock(t *testing.T) {
	k := openTemp(t)
	passphrase := []byte("correct horse")
	own := generate(t, "Own", "own@example.org", GenerateOptions{})
	if err := own.EncryptPrivateKeys(passphrase, nil); err != nil {
		t.Fatalf("EncryptPrivateKeys: %v", err)
	}

	imported := importBytes(t, k, armored(t, openpgp.PrivateKeyType, secretBytes(t, own)))
	if len(imported) != 1 || !imported[0].Secret {
		t.Fatalf("Import = %+v, want one secret key", imported)
	}

	if _, err := k.EncryptionKey(context.Background(), "own@example.org", time.Now()); err != nil {
		t.Errorf("EncryptionKey for the own address: %v", err)
	}

	signer, err := k.SigningKey(context.Background(), "own@example.org", time.Now())
	if err != nil {
		t.Fatalf("SigningKey: %v", err)
	}
	if !Locked(signer) {
		t.Fatal("SigningKey returned an unlocked key")
	}

	err = Unlock(signer, []byte("wrong"))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Unlock with a wrong passphrase = %v, want ErrWrongPassphrase", err)
	}
	if !Locked(signer) {
		t.Error("key is unlocked after a wrong passphrase")
	}

	if err := Unlock(signer, passphrase); err != nil {
		t.Fatalf("Unlock with the right passphrase: %v", err)
	}
	if Locked(signer) {
		t.Error("key is still locked after Unlock")
	}
	if _, ok := signer.SigningKey(time.Now(), nil); !ok {
		t.Error("unlocked key has no signing key")
	}
	if err := Unlock(signer, passphrase); err != nil {
		t.Errorf("Unlock of an unlocked key: %v", err)
	}
}

func TestSigningKeyNotFound(t *testing.T) {
	k := openTemp(t)
	other := generate(t, "Other", "other@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, other))

	_, err := k.SigningKey(context.Background(), "other@example.org", time.Now())
	lookup := lookupError(t, err)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not wrap ErrNotFound", err)
	}
	if !lookup.Secret {
		t.Error("LookupError.Secret is false for a secret key lookup")
	}
	want := `no secret key for "other@example.org"; import yours with "sealmail keyring import"`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestImportMergeKeepsEverything(t *testing.T) {
	k := openTemp(t)
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Carol", "carol@example.org", GenerateOptions{Now: created})
	first := publicBytes(t, e)
	firstSubkeys := len(e.Subkeys)

	later := &packet.Config{Time: func() time.Time { return created.Add(time.Minute) }}
	if err := e.AddEncryptionSubkey(later); err != nil {
		t.Fatalf("AddEncryptionSubkey: %v", err)
	}
	if err := e.AddUserId("Carol", "work", "carol@work.example", later); err != nil {
		t.Fatalf("AddUserId: %v", err)
	}
	second := publicBytes(t, e)

	// The revocation arrives with the key as first imported: without the
	// new subkey and user ID, which the merge must keep.
	if err := e.Revoke(packet.KeyRetired, "retired", later); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	revoked := *e
	revoked.Subkeys = e.Subkeys[:firstSubkeys]
	revoked.Identities = map[string]*openpgp.Identity{}
	for name, identity := range e.Identities {
		if identity.UserId.Email == "carol@example.org" {
			revoked.Identities[name] = identity
		}
	}
	third := publicBytes(t, &revoked)

	if got := importBytes(t, k, first); got[0].Updated {
		t.Error("first import is reported as an update")
	}
	if got := importBytes(t, k, second); !got[0].Updated || len(got[0].UserIDs) != 2 {
		t.Errorf("second import = %+v, want an update with 2 user IDs", got)
	}
	importBytes(t, k, third)

	stored, err := k.readCert(fingerprint(e))
	if err != nil {
		t.Fatalf("readCert: %v", err)
	}
	if len(stored.Subkeys) != firstSubkeys+1 {
		t.Errorf("stored key has %d subkeys, want %d", len(stored.Subkeys), firstSubkeys+1)
	}
	if len(stored.Identities) != 2 {
		t.Errorf("stored key has %d user IDs, want 2", len(stored.Identities))
	}
	if !stored.Revoked(time.Now()) {
		t.Error("stored key is not revoked")
	}

	// Importing everything again adds no packet twice.
	before, err := os.ReadFile(k.certPath(fingerprint(e)))
	if err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, append(append(first, second...), third...))
	after, err := os.ReadFile(k.certPath(fingerprint(e)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("re-import changed the certificate from %d to %d bytes", len(before), len(after))
	}

	for _, address := range []string{"carol@example.org", "carol@work.example"} {
		_, err := k.EncryptionKey(context.Background(), address, time.Now())
		if lookup := lookupError(t, err); lookup.Status != StatusRevoked {
			t.Errorf("EncryptionKey(%q) status = %q, want revoked", address, lookup.Status)
		}
	}
}

func TestImportRevocationCertificate(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Dave", "dave@example.org", GenerateOptions{})
	cert := publicBytes(t, e)
	if err := e.Revoke(packet.KeyCompromised, "lost", nil); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	var revocation bytes.Buffer
	if err := e.Revocations[0].Packet.Serialize(&revocation); err != nil {
		t.Fatal(err)
	}
	revocationBlock := armored(t, openpgp.PublicKeyType, revocation.Bytes())

	if _, err := k.Import(context.Background(), bytes.NewReader(revocationBlock)); err == nil {
		t.Fatal("Import of a revocation for an unknown key succeeded")
	}

	importBytes(t, k, cert)
	imported := importBytes(t, k, revocationBlock)
	if len(imported) != 1 || imported[0].Fingerprint != fingerprint(e) || !imported[0].Updated {
		t.Errorf("Import of the revocation = %+v", imported)
	}
	if len(imported) == 1 && !imported[0].NowRevoked {
		t.Error("Import of the revocation: NowRevoked is not set")
	}
	again := importBytes(t, k, revocationBlock)
	if len(again) == 1 && (again[0].NowRevoked || !again[0].Unchanged) {
		t.Errorf("second import of the revocation = %+v, want unchanged and not newly revoked", again[0])
	}
	_, err := k.EncryptionKey(context.Background(), "dave@example.org", time.Now())
	if lookup := lookupError(t, err); lookup.Status != StatusRevoked {
		t.Errorf("status = %q, want revoked", lookup.Status)
	}
}

func TestEncryptionKeyNotFound(t *testing.T) {
	k := openTemp(t)
	_, err := k.EncryptionKey(context.Background(), "x@example.org", time.Now())
	lookup := lookupError(t, err)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not wrap ErrNotFound", err)
	}
	if lookup.Status != "" {
		t.Errorf("status = %q, want empty", lookup.Status)
	}
	want := `no key for "x@example.org" in the keyring; import one with "sealmail keyring import"`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestEncryptionKeyExpired(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	created := now.Add(-48 * time.Hour).Truncate(time.Second)
	e := generate(t, "Erin", "erin@example.org", GenerateOptions{Now: created, Lifetime: 24 * time.Hour})
	importBytes(t, k, publicBytes(t, e))

	_, err := k.EncryptionKey(context.Background(), "erin@example.org", now)
	lookup := lookupError(t, err)
	if lookup.Status != StatusExpired {
		t.Fatalf("status = %q, want expired (%v)", lookup.Status, err)
	}
	expiry := created.Add(24 * time.Hour)
	if !lookup.Expired.Equal(expiry) {
		t.Errorf("Expired = %v, want %v", lookup.Expired, expiry)
	}
	want := `no usable key for "erin@example.org": key 0x` + strings.ToUpper(fingerprint(e)) +
		" expired on " + expiry.UTC().Format(time.DateOnly)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}

	// Before its expiry the same key is usable.
	if _, err := k.EncryptionKey(context.Background(), "erin@example.org", created.Add(time.Hour)); err != nil {
		t.Errorf("EncryptionKey before expiry: %v", err)
	}
}

func TestEncryptionKeyRevoked(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Frank", "frank@example.org", GenerateOptions{})
	if err := e.Revoke(packet.NoReason, "", nil); err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, publicBytes(t, e))

	_, err := k.EncryptionKey(context.Background(), "frank@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusRevoked {
		t.Fatalf("status = %q, want revoked", lookup.Status)
	}
	if lookup.Fingerprint != fingerprint(e) {
		t.Errorf("Fingerprint = %q, want %q", lookup.Fingerprint, fingerprint(e))
	}
	if !strings.HasSuffix(err.Error(), "is revoked") {
		t.Errorf("error = %q, want it to say the key is revoked", err)
	}
}

func TestEncryptionKeySignOnly(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Grace", "grace@example.org", GenerateOptions{})
	e.Subkeys = nil
	importBytes(t, k, publicBytes(t, e))

	_, err := k.EncryptionKey(context.Background(), "grace@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusNoEncryption {
		t.Fatalf("status = %q, want %q", lookup.Status, StatusNoEncryption)
	}
	if !strings.Contains(err.Error(), "has no valid encryption subkey") {
		t.Errorf("error = %q, want it to name the missing encryption subkey", err)
	}
}

func TestEncryptionKeyWeakRSA(t *testing.T) {
	k := openTemp(t)
	config := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 1024}
	e, err := openpgp.NewEntity("Heidi", "", "heidi@example.org", config)
	if err != nil {
		t.Fatalf("NewEntity: %v", err)
	}
	importBytes(t, k, publicBytes(t, e))

	_, err = k.EncryptionKey(context.Background(), "heidi@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Status != StatusWeak {
		t.Fatalf("status = %q, want weak (%v)", lookup.Status, err)
	}
	if !strings.Contains(err.Error(), "1024") {
		t.Errorf("error = %q, want it to name the key size", err)
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Status != StatusWeak || entries[0].Algorithm != "rsa1024" {
		t.Errorf("List = %+v, want a weak rsa1024 key", entries[0])
	}
}

func TestEncryptionKeyPrefersUsableKey(t *testing.T) {
	k := openTemp(t)
	now := time.Now()
	old := generate(t, "Ivan", "ivan@example.org", GenerateOptions{Now: now.Add(-2 * time.Hour)})
	current := generate(t, "Ivan", "ivan@example.org", GenerateOptions{Now: now.Add(-time.Hour)})
	expired := generate(t, "Ivan", "ivan@example.org", GenerateOptions{Now: now.Add(-time.Minute), Lifetime: time.Second})
	importBytes(t, k, append(append(publicBytes(t, old), publicBytes(t, current)...), publicBytes(t, expired)...))

	got, err := k.EncryptionKey(context.Background(), "ivan@example.org", now)
	if err != nil {
		t.Fatalf("EncryptionKey: %v", err)
	}
	if fingerprint(got) != fingerprint(current) {
		t.Errorf("EncryptionKey = %s, want the newest usable key %s", fingerprint(got), fingerprint(current))
	}
}

func TestEncryptionKeyNewestSubkey(t *testing.T) {
	k := openTemp(t)
	created := time.Now().Add(-time.Hour).Truncate(time.Second)
	e := generate(t, "Judy", "judy@example.org", GenerateOptions{Now: created})
	later := &packet.Config{Time: func() time.Time { return created.Add(10 * time.Minute) }}
	if err := e.AddEncryptionSubkey(later); err != nil {
		t.Fatal(err)
	}
	newest := e.Subkeys[len(e.Subkeys)-1].PublicKey
	importBytes(t, k, publicBytes(t, e))

	cert, err := k.EncryptionKey(context.Background(), "judy@example.org", time.Now())
	if err != nil {
		t.Fatalf("EncryptionKey: %v", err)
	}
	if len(cert.Subkeys) != 2 {
		t.Fatalf("certificate has %d subkeys, want 2", len(cert.Subkeys))
	}
	key, ok := cert.EncryptionKey(time.Now(), nil)
	if !ok {
		t.Fatal("go-crypto finds no encryption key in the certificate")
	}
	if key.PublicKey.KeyId != newest.KeyId {
		t.Errorf("go-crypto picks subkey %X, want the newest %X", key.PublicKey.KeyId, newest.KeyId)
	}

	// The message itself names the newest subkey as its recipient.
	var message bytes.Buffer
	w, err := openpgp.Encrypt(&message, []*openpgp.Entity{cert}, nil, nil, nil, &packet.Config{DefaultCipher: packet.CipherAES256})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(&message)
	if err != nil {
		t.Fatalf("reading the first packet: %v", err)
	}
	encryptedKey, ok := p.(*packet.EncryptedKey)
	if !ok {
		t.Fatalf("first packet is %T, want *packet.EncryptedKey", p)
	}
	if encryptedKey.KeyId != newest.KeyId {
		t.Errorf("message is encrypted to %X, want the newest subkey %X", encryptedKey.KeyId, newest.KeyId)
	}
}

func TestStoreLayoutAndModes(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := generate(t, "Kim", "kim@example.org", GenerateOptions{})
	importBytes(t, k, secretBytes(t, e))
	fpr := fingerprint(e)

	certPath := filepath.Join(dir, "pgp.cert.d", fpr[:2], fpr[2:])
	cert, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("certificate is not at %s: %v", certPath, err)
	}
	if cert[0]&0x80 == 0 {
		t.Error("certificate file is not binary OpenPGP")
	}
	stored, err := parseStored(cert, fpr)
	if err != nil {
		t.Fatalf("certificate file does not parse: %v", err)
	}
	if stored.PrivateKey != nil {
		t.Error("certificate file holds secret key material")
	}

	if _, err := os.Stat(filepath.Join(dir, "pgp.cert.d", "writelock")); err != nil {
		t.Errorf("writelock is missing: %v", err)
	}

	checkMode(t, filepath.Join(dir, "secret"), 0o700)
	checkMode(t, filepath.Join(dir, "secret", fpr), 0o600)
	checkMode(t, certPath, 0o600)

	leftovers, err := filepath.Glob(filepath.Join(dir, "*", ".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o, want %#o", path, got, want)
	}
}

func TestOpenTightensSecretFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "secret"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	checkMode(t, filepath.Join(dir, "secret"), 0o700)
}

func TestImportConcurrent(t *testing.T) {
	dir := t.TempDir()
	keys := []*openpgp.Entity{
		generate(t, "Leo", "leo@example.org", GenerateOptions{}),
		generate(t, "Mia", "mia@example.org", GenerateOptions{}),
	}

	var wg sync.WaitGroup
	errs := make([]error, len(keys))
	for i, e := range keys {
		data := secretBytes(t, e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A keyring of its own, as another process would have.
			k, err := Open(dir)
			if err == nil {
				_, err = k.Import(context.Background(), bytes.NewReader(data))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("import %d: %v", i, err)
		}
	}

	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("List returned %d keys, want 2", len(entries))
	}
	for _, entry := range entries {
		if !entry.Secret {
			t.Errorf("%s lost its secret key", entry.Fingerprint)
		}
	}
}

func TestImportBadInputChangesNothing(t *testing.T) {
	good := generate(t, "Nina", "nina@example.org", GenerateOptions{})
	goodBytes := publicBytes(t, good)
	goodArmor := armored(t, openpgp.PublicKeyType, goodBytes)

	unsupported := bytes.Clone(goodBytes)
	// The public key packet starts with a 2-byte old-format header, then
	// version 4, a 4-byte creation time and the algorithm.
	unsupported[2+1+4] = 99
	unsupportedSubkey := unsupportedSubkeyBytes(t, good)

	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "no OpenPGP key found"},
		{"text", []byte("hello, world\n"), "no OpenPGP key found"},
		{"truncated binary", goodBytes[:len(goodBytes)-10], "truncated"},
		{"truncated armor", goodArmor[:len(goodArmor)/2], "truncated"},
		{"second block truncated", append(bytes.Clone(goodArmor), goodArmor[:len(goodArmor)-40]...), "truncated"},
		{"unsupported key", unsupported, "unsupported algorithm"},
		{"unsupported subkey", unsupportedSubkey, "unsupported algorithm"},
		{"message block", armored(t, "PGP MESSAGE", []byte{0xc3, 0x00}), "not an OpenPGP key block"},
		{"user ID only", goodBytes[len(goodBytes)/2:], ""},
		{"binary trailing text", append(bytes.Clone(goodBytes), "garbage\n"...), "not an OpenPGP packet tag"},
		{"binary trailing unknown packet", append(bytes.Clone(goodBytes), 0xfb, 0xbb), "truncated"},
		{"binary trailing old-format packet", append(bytes.Clone(goodBytes), 0x84, 0x73, 0x8d, 0xd7), "truncated"},
		{"binary trailing unsupported packet", append(bytes.Clone(goodBytes), 0xc3, 0x02, 0x63, 0x00), "not part of a key"},
		{"armored trailing garbage", armored(t, openpgp.PublicKeyType, append(bytes.Clone(goodBytes), 0xe9, 0x95, 0xaf)), "truncated"},
		{"armored corrupt body", corruptArmorBody(goodArmor), "corrupt"},
		{"armored non-PGP block", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "not an OpenPGP key block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := openTemp(t)
			_, err := k.Import(context.Background(), bytes.NewReader(tt.input))
			if err == nil {
				t.Fatal("Import succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			fprs, listErr := k.certFingerprints()
			if listErr != nil {
				t.Fatal(listErr)
			}
			if len(fprs) != 0 {
				t.Errorf("bad input stored %d certificates", len(fprs))
			}
		})
	}
}

// corruptArmorBody returns armor with one base64 character in the middle
// of its body replaced by one that is not base64.
func corruptArmorBody(armor []byte) []byte {
	corrupt := bytes.Clone(armor)
	lines := bytes.Split(corrupt, []byte("\n"))
	middle := lines[len(lines)/2]
	middle[len(middle)/2] = '!'
	return corrupt
}

// unsupportedSubkeyBytes returns the certificate of e with the algorithm of
// its subkey replaced by an unassigned one.
func unsupportedSubkeyBytes(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.PrimaryKey.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	for _, identity := range e.Identities {
		if err := identity.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
	}
	offset := buf.Len()
	if err := e.Subkeys[0].Serialize(&buf, false); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	data[offset+2+1+4] = 99
	return data
}

func TestGenerateDefaults(t *testing.T) {
	e := generate(t, "Olga", "olga@example.org", GenerateOptions{})
	if e.PrimaryKey.Version != 4 {
		t.Errorf("key version = %d, want 4", e.PrimaryKey.Version)
	}
	if e.PrimaryKey.PubKeyAlgo != packet.PubKeyAlgoEdDSA {
		t.Errorf("primary algorithm = %d, want legacy EdDSA", e.PrimaryKey.PubKeyAlgo)
	}
	if got := algorithmName(e.PrimaryKey); got != "ed25519" {
		t.Errorf("primary algorithm name = %q, want ed25519", got)
	}
	if len(e.Subkeys) != 1 || algorithmName(e.Subkeys[0].PublicKey) != "cv25519" {
		t.Fatalf("subkeys = %d, want one cv25519 subkey", len(e.Subkeys))
	}

	sig, err := e.PrimarySelfSignature(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sig.SEIPDv2 {
		t.Error("self-signature advertises SEIPDv2, which GnuPG 2.2 cannot read")
	}
	if !sig.SEIPDv1 {
		t.Error("self-signature does not advertise SEIPDv1")
	}
	if len(sig.PreferredSymmetric) == 0 || packet.CipherFunction(sig.PreferredSymmetric[0]) != packet.CipherAES256 {
		t.Errorf("preferred ciphers = %v, want AES-256 first", sig.PreferredSymmetric)
	}
	if len(sig.PreferredCipherSuites) != 0 {
		t.Errorf("self-signature lists AEAD cipher suites %v", sig.PreferredCipherSuites)
	}
	if keyExpiry(e) != nil {
		t.Errorf("key without lifetime expires at %v", keyExpiry(e))
	}
}

func TestGenerateOptions(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	e := generate(t, "Pat", "pat@example.org", GenerateOptions{RSABits: 2048, Lifetime: 48 * time.Hour, Now: created})
	if got := algorithmName(e.PrimaryKey); got != "rsa2048" {
		t.Errorf("algorithm = %q, want rsa2048", got)
	}
	if !e.PrimaryKey.CreationTime.Equal(created) {
		t.Errorf("created = %v, want %v", e.PrimaryKey.CreationTime, created)
	}
	if expiry := keyExpiry(e); expiry == nil || !expiry.Equal(created.Add(48*time.Hour)) {
		t.Errorf("expiry = %v, want %v", expiry, created.Add(48*time.Hour))
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, userName, address string
		opts                    GenerateOptions
	}{
		{"rsa size", "Q", "q@example.org", GenerateOptions{RSABits: 1024}},
		{"negative lifetime", "Q", "q@example.org", GenerateOptions{Lifetime: -time.Hour}},
		{"address with name", "Q", "Q <q@example.org>", GenerateOptions{}},
		{"not an address", "Q", "q", GenerateOptions{}},
		{"name with bracket", "Q <x>", "q@example.org", GenerateOptions{}},
		{"name with newline", "Q\nBcc: x", "q@example.org", GenerateOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Generate(tt.userName, tt.address, tt.opts); err == nil {
				t.Error("Generate succeeded")
			}
		})
	}
}

func TestLookupErrorMessages(t *testing.T) {
	tests := []struct {
		err  *LookupError
		want string
	}{
		{
			&LookupError{Address: "bob@example.org", Status: StatusExpired, Fingerprint: "1234abcd", Expired: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			`no usable key for "bob@example.org": key 0x1234ABCD expired on 2026-01-02`,
		},
		{
			&LookupError{Address: "bob@example.org", Status: StatusNoEncryption, Fingerprint: "1234abcd"},
			`no usable key for "bob@example.org": key 0x1234ABCD has no valid encryption subkey`,
		},
		{
			&LookupError{Address: "me@example.org", Status: StatusNoSigningSecret, Fingerprint: "1234abcd", Secret: true,
				Err: errors.New("its primary key is a GnuPG stub and it contains no signing subkey")},
			`no usable secret key for "me@example.org": key 0x1234ABCD has no usable signing key: its primary key is a GnuPG stub and it contains no signing subkey; export the primary secret key or a signing subkey with gpg, or send with --encrypt only`,
		},
		{
			&LookupError{Address: "x@example.org", Err: ErrNotFound},
			`no key for "x@example.org" in the keyring; import one with "sealmail keyring import"`,
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestLookupInternationalizedDomain(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Idn", "idn@bücher.example", GenerateOptions{})
	importBytes(t, k, secretBytes(t, e))

	for _, address := range []string{"idn@xn--bcher-kva.example", "idn@bücher.example", "IDN@BÜCHER.example", "idn@XN--BCHER-KVA.example"} {
		cert, err := k.EncryptionKey(context.Background(), address, time.Now())
		if err != nil {
			t.Errorf("EncryptionKey(%q): %v", address, err)
		} else if fingerprint(cert) != fingerprint(e) {
			t.Errorf("EncryptionKey(%q) = key %s, want %s", address, fingerprint(cert), fingerprint(e))
		}
		if _, err := k.SigningKey(context.Background(), address, time.Now()); err != nil {
			t.Errorf("SigningKey(%q): %v", address, err)
		}
	}

	entries, err := k.List(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := entries[0].Addresses; len(got) != 1 || got[0] != "idn@bücher.example" {
		t.Errorf("List addresses = %q, want the form of the key", got)
	}
}

func TestLookupPunycodeUserID(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Idn", "idn@xn--bcher-kva.example", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))

	if _, err := k.EncryptionKey(context.Background(), "idn@bücher.example", time.Now()); err != nil {
		t.Errorf("EncryptionKey: %v", err)
	}
	if _, err := k.EncryptionKey(context.Background(), "idn@bucher.example", time.Now()); err == nil {
		t.Error("EncryptionKey found a key for a different domain")
	}
}
