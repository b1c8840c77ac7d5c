package pgpmime

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/gpgtest"
	"github.com/sealmail/sealmail/internal/rawmime"
)

// testEntity is a quoted-printable text part as compose writes one.
const testEntity = "Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	"\r\n" +
	"the statement is attached. Gr=C3=BC=C3=9Fe,\r\n" +
	"Alice\r\n"

func writeBytes(entity string) BodyFunc {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, entity)
		return err
	}
}

var gpgKinds = []keyKind{kindEd25519, kindRSA3072, kindP521}

// checkWire checks the rules for every line of a message: CRLF line
// endings only, no lone CR or LF, at most 998 octets a line.
func checkWire(t *testing.T, message []byte) {
	t.Helper()
	if len(message) == 0 {
		t.Fatal("message is empty")
	}
	if !bytes.HasSuffix(message, []byte("\r\n")) {
		t.Errorf("message does not end in CRLF")
	}
	for i, line := range bytes.Split(message, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d contains a lone CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Errorf("line %d has %d octets, more than 998", i+1, len(line))
		}
	}
}

// contentType parses the Content-Type of the message's top-level header.
func contentType(t *testing.T, message []byte) (string, map[string]string) {
	t.Helper()
	entity, err := rawmime.ParseEntity(message)
	if err != nil {
		t.Fatalf("failed to parse the message: %v", err)
	}
	value := entity.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(value)
	if err != nil {
		t.Fatalf("failed to parse Content-Type %q: %v", value, err)
	}
	return mediaType, params
}

// armoredBlock returns the armored block of type blockType in message.
func armoredBlock(t *testing.T, message []byte, blockType string) []byte {
	t.Helper()
	begin := bytes.Index(message, []byte("-----BEGIN "+blockType+"-----"))
	endMarker := []byte("-----END " + blockType + "-----")
	end := bytes.Index(message, endMarker)
	if begin < 0 || end < begin {
		t.Fatalf("message holds no armored %s:\n%s", blockType, message)
	}
	return message[begin : end+len(endMarker)]
}

func sign(t *testing.T, signer *openpgp.Entity, entity string) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Sign(&out, signer, writeBytes(entity), nil); err != nil {
		t.Fatalf("Sign failed: %v", err)
	}
	return out.Bytes()
}

func encrypt(t *testing.T, recipients []*openpgp.Entity, signer *openpgp.Entity, entity string) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Encrypt(&out, recipients, signer, writeBytes(entity), nil); err != nil {
		t.Fatalf("Encrypt failed: %v", err)
	}
	return out.Bytes()
}

// verifyWithGPG runs gpg --verify on the signature and the first part of a
// multipart/signed message and returns the VALIDSIG status line.
func verifyWithGPG(t *testing.T, gpg *gpgtest.GPG, message []byte) (string, error) {
	t.Helper()
	_, params := contentType(t, message)
	entity, err := rawmime.ParseEntity(message)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := rawmime.SplitMultipart(entity.Body, params["boundary"])
	if err != nil || len(parts) != 2 {
		t.Fatalf("failed to split the signed message into two parts: %v", err)
	}

	dir := t.TempDir()
	partFile := filepath.Join(dir, "part")
	signatureFile := filepath.Join(dir, "signature.asc")
	if err := os.WriteFile(partFile, parts[0], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(signatureFile, armoredBlock(t, message, "PGP SIGNATURE"), 0o600); err != nil {
		t.Fatal(err)
	}

	status, _, stderr, err := gpg.Status(t, nil, "--verify", signatureFile, partFile)
	if err != nil {
		return "", fmt.Errorf("gpg --verify failed: %w\n%s", err, stderr)
	}
	return gpgtest.StatusLine(status, "VALIDSIG"), nil
}

// gpgHashIDs are the hash algorithm IDs of RFC 9580 that VALIDSIG reports.
var gpgHashIDs = map[string]string{"sha256": "8", "sha384": "9", "sha512": "10"}

func TestSignVerifiesWithGPG(t *testing.T) {
	for _, kind := range gpgKinds {
		t.Run(kind.name, func(t *testing.T) {
			gpg := gpgtest.New(t)
			alice := testKey(t, kind, "alice")
			gpg.Import(t, armoredPublicKey(t, alice))

			message := sign(t, alice, testEntity)
			checkWire(t, message)

			mediaType, params := contentType(t, message)
			if mediaType != "multipart/signed" {
				t.Errorf("Content-Type is %q, want multipart/signed", mediaType)
			}
			if params["protocol"] != "application/pgp-signature" {
				t.Errorf("protocol is %q, want application/pgp-signature", params["protocol"])
			}
			wantMicalg := "pgp-" + hashName(kind.hash)
			if params["micalg"] != wantMicalg {
				t.Errorf("micalg is %q, want %q", params["micalg"], wantMicalg)
			}

			validSig, err := verifyWithGPG(t, gpg, message)
			if err != nil {
				t.Fatal(err)
			}
			fields := strings.Fields(validSig)
			if len(fields) < 9 {
				t.Fatalf("VALIDSIG status line is %q, too short", validSig)
			}
			if want := gpgHashIDs[hashName(kind.hash)]; fields[8] != want {
				t.Errorf("gpg reports hash algorithm %s, want %s (%s)", fields[8], want, params["micalg"])
			}
		})
	}
}

func TestSignWritesEntityUnchanged(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	message := sign(t, alice, testEntity)

	_, params := contentType(t, message)
	want := "\r\n--" + params["boundary"] + "\r\n" + testEntity + "\r\n--" + params["boundary"] + "\r\n"
	if !bytes.Contains(message, []byte(want)) {
		t.Errorf("signed message does not hold the entity byte for byte between delimiters:\n%s", message)
	}
	if bytes.Contains(bytes.ToLower(message), []byte("mime-version")) {
		t.Errorf("signed message contains MIME-Version:\n%s", message)
	}
}

func TestSignMicalgFollowsKey(t *testing.T) {
	for _, kind := range []keyKind{kindEd25519, kindP521, kindEd448} {
		t.Run(kind.name, func(t *testing.T) {
			signer := testKey(t, kind, "alice")
			message := sign(t, signer, testEntity)

			_, params := contentType(t, message)
			want := "pgp-" + hashName(kind.hash)
			if params["micalg"] != want {
				t.Errorf("micalg is %q, want %q", params["micalg"], want)
			}

			opened, err := Open(bytes.NewReader(message), openpgp.EntityList{signer}, nil)
			if err != nil {
				t.Fatalf("Open failed: %v", err)
			}
			if opened.SignatureErr != nil {
				t.Errorf("signature did not verify: %v", opened.SignatureErr)
			}
			if "pgp-"+opened.Hash != params["micalg"] {
				t.Errorf("signature hash is %q, micalg is %q", opened.Hash, params["micalg"])
			}
		})
	}
}

func TestSignHeaderCaseChangeBreaksSignature(t *testing.T) {
	gpg := gpgtest.New(t)
	alice := testKey(t, kindEd25519, "alice")
	gpg.Import(t, armoredPublicKey(t, alice))

	message := sign(t, alice, testEntity)
	recased := bytes.Replace(message, []byte("\r\nContent-Transfer-Encoding: quoted"), []byte("\r\ncontent-transfer-encoding: quoted"), 1)
	if bytes.Equal(recased, message) {
		t.Fatal("test did not change the signed part")
	}

	opened, err := Open(bytes.NewReader(message), openpgp.EntityList{alice}, nil)
	if err != nil {
		t.Fatalf("Open of the original failed: %v", err)
	}
	if opened.SignatureErr != nil {
		t.Fatalf("original signature did not verify: %v", opened.SignatureErr)
	}

	opened, err = Open(bytes.NewReader(recased), openpgp.EntityList{alice}, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil {
		t.Errorf("Open verified a signed part whose header name changed case")
	}
	if opened.Signer != "" {
		t.Errorf("Signer is %q for a bad signature, want empty", opened.Signer)
	}
	if _, err := verifyWithGPG(t, gpg, recased); err == nil {
		t.Errorf("gpg verified a signed part whose header name changed case")
	}
}

func TestEncryptDecryptsWithGPG(t *testing.T) {
	for _, kind := range gpgKinds {
		t.Run(kind.name, func(t *testing.T) {
			gpg := gpgtest.New(t)
			bob := testKey(t, kind, "bob")
			gpg.Import(t, armoredSecretKey(t, bob))

			message := encrypt(t, []*openpgp.Entity{publicOnly(t, bob)}, nil, testEntity)
			checkWire(t, message)
			checkEncryptedStructure(t, message)

			status, plaintext, stderr, err := gpg.Status(t, armoredBlock(t, message, "PGP MESSAGE"), "--decrypt")
			if err != nil {
				t.Fatalf("gpg --decrypt failed: %v\n%s", err, stderr)
			}
			if !bytes.Equal(plaintext, []byte(testEntity)) {
				t.Errorf("gpg decrypted %q, want %q", plaintext, testEntity)
			}
			if !gpgtest.HasStatus(status, "DECRYPTION_OKAY") {
				t.Errorf("gpg status has no DECRYPTION_OKAY: %q", status)
			}
			// DECRYPTION_INFO <mdc_method> <sym_algo>: 2 is SEIPDv1 with MDC,
			// 9 is AES-256.
			if info := gpgtest.StatusLine(status, "DECRYPTION_INFO"); !strings.HasPrefix(info, "DECRYPTION_INFO 2 9") {
				t.Errorf("gpg reports %q, want SEIPDv1 (2) with AES-256 (9)", info)
			}
		})
	}
}

func TestSignEncryptVerifiesWithGPG(t *testing.T) {
	for _, kind := range gpgKinds {
		t.Run(kind.name, func(t *testing.T) {
			gpg := gpgtest.New(t)
			alice := testKey(t, kind, "alice")
			bob := testKey(t, kind, "bob")
			gpg.Import(t, armoredSecretKey(t, bob))
			gpg.Import(t, armoredPublicKey(t, alice))

			message := encrypt(t, []*openpgp.Entity{publicOnly(t, bob)}, alice, testEntity)
			checkWire(t, message)
			checkEncryptedStructure(t, message)

			status, plaintext, stderr, err := gpg.Status(t, armoredBlock(t, message, "PGP MESSAGE"), "--decrypt")
			if err != nil {
				t.Fatalf("gpg --decrypt failed: %v\n%s", err, stderr)
			}
			if !bytes.Equal(plaintext, []byte(testEntity)) {
				t.Errorf("gpg decrypted %q, want %q", plaintext, testEntity)
			}
			for _, keyword := range []string{"DECRYPTION_OKAY", "GOODSIG", "VALIDSIG"} {
				if !gpgtest.HasStatus(status, keyword) {
					t.Errorf("gpg status has no %s: %q", keyword, status)
				}
			}
			validSig := gpgtest.StatusLine(status, "VALIDSIG")
			if fingerprint := fmt.Sprintf("%X", alice.PrimaryKey.Fingerprint); !strings.HasSuffix(validSig, fingerprint) {
				t.Errorf("VALIDSIG is %q, want the primary key %s", validSig, fingerprint)
			}
		})
	}
}

// checkEncryptedStructure checks the two parts RFC 3156 section 4 requires.
func checkEncryptedStructure(t *testing.T, message []byte) {
	t.Helper()
	mediaType, params := contentType(t, message)
	if mediaType != "multipart/encrypted" {
		t.Errorf("Content-Type is %q, want multipart/encrypted", mediaType)
	}
	if params["protocol"] != "application/pgp-encrypted" {
		t.Errorf("protocol is %q, want application/pgp-encrypted", params["protocol"])
	}

	entity, err := rawmime.ParseEntity(message)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := rawmime.SplitMultipart(entity.Body, params["boundary"])
	if err != nil {
		t.Fatalf("failed to split the message: %v", err)
	}
	if len(parts) != 2 {
		t.Fatalf("message has %d parts, want 2", len(parts))
	}

	control, err := rawmime.ParseEntity(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if control.MediaType != "application/pgp-encrypted" {
		t.Errorf("first part is %q, want application/pgp-encrypted", control.MediaType)
	}
	if got := strings.TrimSpace(string(control.Body)); got != "Version: 1" {
		t.Errorf("first part body is %q, want Version: 1", got)
	}

	payload, err := rawmime.ParseEntity(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if payload.MediaType != "application/octet-stream" {
		t.Errorf("second part is %q, want application/octet-stream", payload.MediaType)
	}
	if payload.Params["name"] != "encrypted.asc" {
		t.Errorf("second part name is %q, want encrypted.asc", payload.Params["name"])
	}
	if !bytes.HasPrefix(payload.Body, []byte("-----BEGIN PGP MESSAGE-----\r\n")) {
		t.Errorf("second part does not start with the armor header: %q", payload.Body[:min(40, len(payload.Body))])
	}
}

// messagePackets returns the tags and first body octet (the version) of
// the top-level packets of the armored OpenPGP message in message.
func messagePackets(t *testing.T, message []byte) (tags []int, seipdVersion int) {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(armoredBlock(t, message, "PGP MESSAGE")))
	if err != nil {
		t.Fatalf("failed to decode the armor: %v", err)
	}
	binary, err := io.ReadAll(block.Body)
	if err != nil {
		t.Fatalf("failed to decode the armor: %v", err)
	}

	packets := packet.NewReader(bytes.NewReader(binary))
	for {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("failed to read the packets: %v", err)
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			tags = append(tags, 1)
		case *packet.SymmetricallyEncrypted:
			tags = append(tags, 18)
			seipdVersion = p.Version
			return tags, seipdVersion
		case *packet.AEADEncrypted:
			tags = append(tags, 20)
			return tags, 0
		default:
			t.Fatalf("unexpected packet %T", p)
		}
	}
	return tags, 0
}

func TestEncryptSEIPDVersion(t *testing.T) {
	tests := []struct {
		name        string
		recipients  []keyKind
		wantVersion int
	}{
		{"v4 key", []keyKind{kindEd25519}, 1},
		{"RSA key", []keyKind{kindRSA3072}, 1},
		{"all advertise SEIPDv2", []keyKind{kindAEAD}, 2},
		{"one without SEIPDv2", []keyKind{kindAEAD, kindEd25519}, 1},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var recipients []*openpgp.Entity
			for i, kind := range test.recipients {
				recipients = append(recipients, testKey(t, kind, fmt.Sprintf("bob%d", i)))
			}

			message := encrypt(t, recipients, nil, testEntity)
			tags, version := messagePackets(t, message)
			if version != test.wantVersion {
				t.Errorf("SEIPD version is %d, want %d", version, test.wantVersion)
			}
			for _, tag := range tags {
				if tag == 20 {
					t.Errorf("message contains the LibrePGP OCB packet 20")
				}
			}

			for _, recipient := range recipients {
				opened, err := Open(bytes.NewReader(message), openpgp.EntityList{recipient}, nil)
				if err != nil {
					t.Fatalf("Open failed: %v", err)
				}
				if !bytes.Equal(opened.Entity, []byte(testEntity)) {
					t.Errorf("Open returned %q, want %q", opened.Entity, testEntity)
				}
			}
		})
	}
}

func TestEncryptListsEachRecipientOnce(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	bob := testKey(t, kindEd25519, "bob")
	carol := testKey(t, kindRSA3072, "carol")

	message := encrypt(t, []*openpgp.Entity{bob, carol, bob, alice}, nil, testEntity)
	opened, err := Open(bytes.NewReader(message), openpgp.EntityList{carol}, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}

	var want []uint64
	for _, recipient := range []*openpgp.Entity{bob, carol, alice} {
		key, ok := recipient.EncryptionKey(time.Now(), nil)
		if !ok {
			t.Fatal("test key has no encryption key")
		}
		want = append(want, key.PublicKey.KeyId)
	}
	if fmt.Sprint(opened.RecipientKeyIDs) != fmt.Sprint(want) {
		t.Errorf("RecipientKeyIDs are %016X, want %016X", opened.RecipientKeyIDs, want)
	}
}

func TestEncryptRejectsKeyWithoutEncryptionSubkey(t *testing.T) {
	bob := testKey(t, kindEd25519, "bob")
	signOnly := publicOnly(t, testKey(t, kindEd25519, "sign-only"))
	signOnly.Subkeys = nil

	var out bytes.Buffer
	err := Encrypt(&out, []*openpgp.Entity{bob, signOnly}, nil, writeBytes(testEntity), nil)
	if err == nil {
		t.Fatal("Encrypt succeeded for a recipient without an encryption key")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%X", signOnly.PrimaryKey.Fingerprint)) {
		t.Errorf("error %q does not name the key", err)
	}
	if out.Len() != 0 {
		t.Errorf("Encrypt wrote %d bytes before failing:\n%s", out.Len(), out.Bytes())
	}
}

func TestEncryptRejectsNoRecipients(t *testing.T) {
	var out bytes.Buffer
	if err := Encrypt(&out, nil, nil, writeBytes(testEntity), nil); err == nil {
		t.Fatal("Encrypt succeeded with no recipients")
	}
	if out.Len() != 0 {
		t.Errorf("Encrypt wrote %d bytes before failing", out.Len())
	}
}

func TestCheckRecipientKeyIDs(t *testing.T) {
	bob := testKey(t, kindEd25519, "bob")
	carol := testKey(t, kindEd25519, "carol")
	message := encrypt(t, []*openpgp.Entity{bob, carol}, nil, testEntity)

	block, err := armor.Decode(bytes.NewReader(armoredBlock(t, message, "PGP MESSAGE")))
	if err != nil {
		t.Fatal(err)
	}
	var keyPackets bytes.Buffer
	packets := packet.NewReader(block.Body)
	for {
		p, err := packets.Next()
		if err != nil {
			t.Fatal(err)
		}
		key, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		if err := key.Serialize(&keyPackets); err != nil {
			t.Fatal(err)
		}
	}

	bobKey, _ := bob.EncryptionKey(time.Now(), nil)
	carolKey, _ := carol.EncryptionKey(time.Now(), nil)
	both := []uint64{carolKey.PublicKey.KeyId, bobKey.PublicKey.KeyId}
	if err := checkRecipientKeyIDs(keyPackets.Bytes(), both); err != nil {
		t.Errorf("check failed for the intended keys: %v", err)
	}
	if err := checkRecipientKeyIDs(keyPackets.Bytes(), both[:1]); err == nil {
		t.Errorf("check passed with an extra session key")
	}
	if err := checkRecipientKeyIDs(keyPackets.Bytes(), append(both, 42)); err == nil {
		t.Errorf("check passed with a missing session key")
	}
	if err := checkRecipientKeyIDs(nil, both); err == nil {
		t.Errorf("check passed with no session keys")
	}
}

func TestOpenRoundTrip(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	bob := testKey(t, kindRSA3072, "bob")
	aliceFingerprint := hex.EncodeToString(alice.PrimaryKey.Fingerprint)
	keys := openpgp.EntityList{bob, publicOnly(t, alice)}

	tests := []struct {
		name          string
		message       []byte
		wantEncrypted bool
		wantSigned    bool
	}{
		{"sign", sign(t, alice, testEntity), false, true},
		{"encrypt", encrypt(t, []*openpgp.Entity{bob}, nil, testEntity), true, false},
		{"sign and encrypt", encrypt(t, []*openpgp.Entity{bob}, alice, testEntity), true, true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			// A complete message: the outer header before the entity.
			message := append([]byte("From: alice@example.org\r\nTo: bob@example.org\r\nMIME-Version: 1.0\r\n"), test.message...)
			opened, err := Open(bytes.NewReader(message), keys, nil)
			if err != nil {
				t.Fatalf("Open failed: %v", err)
			}
			if !bytes.Equal(opened.Entity, []byte(testEntity)) {
				t.Errorf("Entity is %q, want %q", opened.Entity, testEntity)
			}
			if opened.Encrypted != test.wantEncrypted {
				t.Errorf("Encrypted is %v, want %v", opened.Encrypted, test.wantEncrypted)
			}
			if opened.Signed != test.wantSigned {
				t.Errorf("Signed is %v, want %v", opened.Signed, test.wantSigned)
			}
			if opened.SignatureErr != nil {
				t.Errorf("SignatureErr is %v", opened.SignatureErr)
			}
			if test.wantSigned && opened.Signer != aliceFingerprint {
				t.Errorf("Signer is %q, want %q", opened.Signer, aliceFingerprint)
			}
			if test.wantSigned && opened.Hash != "sha256" {
				t.Errorf("Hash is %q, want sha256", opened.Hash)
			}
			if test.wantEncrypted && len(opened.RecipientKeyIDs) != 1 {
				t.Errorf("RecipientKeyIDs are %016X, want one", opened.RecipientKeyIDs)
			}
		})
	}
}

func TestOpenNestedSignedInsideEncrypted(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	bob := testKey(t, kindEd25519, "bob")
	signed := sign(t, alice, testEntity)
	message := encrypt(t, []*openpgp.Entity{bob}, nil, string(signed))

	opened, err := Open(bytes.NewReader(message), openpgp.EntityList{bob, alice}, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if !opened.Signed || opened.SignatureErr != nil {
		t.Errorf("Signed is %v, SignatureErr is %v; want a good signature", opened.Signed, opened.SignatureErr)
	}
	if !bytes.Equal(opened.Entity, []byte(testEntity)) {
		t.Errorf("Entity is %q, want the inner signed part", opened.Entity)
	}
}

func TestOpenUnknownSigner(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	mallory := testKey(t, kindEd25519, "mallory")
	message := sign(t, alice, testEntity)

	opened, err := Open(bytes.NewReader(message), openpgp.EntityList{mallory}, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if !opened.Signed {
		t.Errorf("Signed is false for a signed message")
	}
	if opened.SignatureErr == nil || opened.Signer != "" {
		t.Errorf("SignatureErr is %v and Signer %q for an unknown signer", opened.SignatureErr, opened.Signer)
	}
}

func TestOpenWithoutDecryptionKey(t *testing.T) {
	bob := testKey(t, kindEd25519, "bob")
	mallory := testKey(t, kindEd25519, "mallory")
	message := encrypt(t, []*openpgp.Entity{bob}, nil, testEntity)

	if _, err := Open(bytes.NewReader(message), openpgp.EntityList{mallory}, nil); err == nil {
		t.Errorf("Open decrypted without the recipient's key")
	}
}

func TestOpenRejectsPlainEntity(t *testing.T) {
	_, err := Open(strings.NewReader(testEntity), openpgp.EntityList{}, nil)
	if !errors.Is(err, ErrNotPGPMIME) {
		t.Errorf("Open returned %v, want ErrNotPGPMIME", err)
	}
}

func TestOpenMicalgMismatch(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	message := sign(t, alice, testEntity)
	wrong := bytes.Replace(message, []byte("micalg=pgp-sha256"), []byte("micalg=pgp-sha512"), 1)

	opened, err := Open(bytes.NewReader(wrong), openpgp.EntityList{alice}, nil)
	if err != nil {
		t.Fatalf("Open failed: %v", err)
	}
	if opened.SignatureErr == nil {
		t.Errorf("Open accepted micalg=pgp-sha512 for a SHA-256 signature")
	}
}

func TestEntityRules(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	bob := testKey(t, kindEd25519, "bob")
	header := "Content-Type: text/plain\r\n\r\n"

	tests := []struct {
		name       string
		entity     string
		signErr    bool
		encryptErr bool
	}{
		{"valid", header + "text\r\n", false, false},
		{"no final line break", header + "text", false, false},
		{"bare LF", header + "one\ntwo\r\n", true, true},
		{"bare CR", header + "one\rtwo\r\n", true, true},
		{"final CR", header + "one\r", true, true},
		{"8-bit", header + "gr\xc3\xbc\xc3\x9fe\r\n", true, true},
		{"NUL", header + "a\x00b\r\n", true, true},
		{"long line", header + strings.Repeat("x", 999) + "\r\n", true, true},
		{"line of 998", header + strings.Repeat("x", 998) + "\r\n", false, false},
		{"From line", header + "From here on\r\n", true, false},
		{"trailing space", header + "text \r\n", true, false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			err := Sign(io.Discard, alice, writeBytes(test.entity), nil)
			if (err != nil) != test.signErr {
				t.Errorf("Sign returned %v, want error %v", err, test.signErr)
			}
			err = Encrypt(io.Discard, []*openpgp.Entity{bob}, nil, writeBytes(test.entity), nil)
			if (err != nil) != test.encryptErr {
				t.Errorf("Encrypt returned %v, want error %v", err, test.encryptErr)
			}
		})
	}
}

func TestBodyFuncErrorIsReturned(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	bob := testKey(t, kindEd25519, "bob")
	failure := errors.New("disk on fire")
	body := func(io.Writer) error { return failure }

	if err := Sign(io.Discard, alice, body, nil); !errors.Is(err, failure) {
		t.Errorf("Sign returned %v, want the BodyFunc error", err)
	}
	if err := Encrypt(io.Discard, []*openpgp.Entity{bob}, alice, body, nil); !errors.Is(err, failure) {
		t.Errorf("Encrypt returned %v, want the BodyFunc error", err)
	}
}

func TestOptionsFixTimeAndRandomness(t *testing.T) {
	alice := testKey(t, kindEd25519, "alice")
	when := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	opts := &Options{Now: func() time.Time { return when }}

	var out bytes.Buffer
	if err := Sign(&out, alice, writeBytes(testEntity), opts); err != nil {
		t.Fatal(err)
	}
	block, err := armor.Decode(bytes.NewReader(armoredBlock(t, out.Bytes(), "PGP SIGNATURE")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		t.Fatal(err)
	}
	signature, ok := p.(*packet.Signature)
	if !ok {
		t.Fatalf("signature block holds a %T", p)
	}
	if !signature.CreationTime.Equal(when) {
		t.Errorf("signature creation time is %v, want %v", signature.CreationTime, when)
	}
}

func TestCRLFWriter(t *testing.T) {
	var out bytes.Buffer
	w := crlfWriter{&out}
	for _, chunk := range []string{"one\ntwo", "\n", "", "three\n\n"} {
		if _, err := io.WriteString(w, chunk); err != nil {
			t.Fatal(err)
		}
	}
	if want := "one\r\ntwo\r\nthree\r\n\r\n"; out.String() != want {
		t.Errorf("output is %q, want %q", out.String(), want)
	}
	if _, err := io.WriteString(w, "a\rb"); err == nil {
		t.Errorf("crlfWriter accepted a CR")
	}
}

func TestMicalgRejectsWeakHashes(t *testing.T) {
	for _, hash := range []crypto.Hash{crypto.MD5, crypto.SHA1, crypto.RIPEMD160} {
		if micalg, err := micalgFor(hash); err == nil {
			t.Errorf("micalgFor(%s) returned %q, want an error", hash, micalg)
		}
	}
	if micalg, err := micalgFor(crypto.SHA3_256); err != nil || micalg != "pgp-sha3-256" {
		t.Errorf("micalgFor(SHA3-256) returned %q, %v; want pgp-sha3-256", micalg, err)
	}
}

func TestSignWithLockedKeyWritesNothing(t *testing.T) {
	locked := publicOnly(t, testKey(t, kindEd25519, "alice"))

	var out bytes.Buffer
	if err := Sign(&out, locked, writeBytes(testEntity), nil); err == nil {
		t.Fatal("Sign succeeded without a secret key")
	}
	if out.Len() != 0 {
		t.Errorf("Sign wrote %d bytes before failing", out.Len())
	}
}
