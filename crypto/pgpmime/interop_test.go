package pgpmime

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sealmail/sealmail/internal/peers"
)

// openWithOpenPGPJS decrypts and verifies the armored message in message
// with OpenPGP.js and returns the plaintext and the signer's key ID.
func openWithOpenPGPJS(t *testing.T, message []byte, recipient, signer *openpgp.Entity) (plaintext []byte, keyID string) {
	t.Helper()
	node := peers.Require(t, "node")
	module := peers.NodeModule(t, "openpgp")

	dir := t.TempDir()
	files := map[string][]byte{
		"message.asc": armoredBlock(t, message, "PGP MESSAGE"),
		"secret.asc":  armoredSecretKey(t, recipient),
		"signer.asc":  armoredPublicKey(t, signer),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(node, filepath.Join("testdata", "openpgpjs-open.mjs"), module,
		filepath.Join(dir, "message.asc"), filepath.Join(dir, "secret.asc"), filepath.Join(dir, "signer.asc"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("OpenPGP.js failed to open the message: %v\n%s", err, stderr.String())
	}

	var result struct {
		Data     string `json:"data"`
		Verified bool   `json:"verified"`
		KeyID    string `json:"keyID"`
	}
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("failed to parse the output of OpenPGP.js %q: %v", out, err)
	}
	if !result.Verified {
		t.Errorf("OpenPGP.js did not verify the signature")
	}
	plaintext, err = base64.StdEncoding.DecodeString(result.Data)
	if err != nil {
		t.Fatalf("failed to decode the plaintext from OpenPGP.js: %v", err)
	}
	return plaintext, result.KeyID
}

func TestSignEncryptOpensWithOpenPGPJS(t *testing.T) {
	for _, kind := range []keyKind{kindEd25519, kindRSA3072, kindAEAD} {
		t.Run(kind.name, func(t *testing.T) {
			alice := testKey(t, kind, "alice")
			bob := testKey(t, kind, "bob")
			message := encrypt(t, []*openpgp.Entity{publicOnly(t, bob)}, alice, testEntity)

			plaintext, keyID := openWithOpenPGPJS(t, message, bob, alice)
			if string(plaintext) != testEntity {
				t.Errorf("OpenPGP.js decrypted %q, want %q", plaintext, testEntity)
			}
			signingKey, ok := alice.SigningKey(alice.PrimaryKey.CreationTime, nil)
			if !ok {
				t.Fatal("test key has no signing key")
			}
			if want := fmt.Sprintf("%016x", signingKey.PublicKey.KeyId); keyID != want {
				t.Errorf("OpenPGP.js reports signing key %s, want %s", keyID, want)
			}
		})
	}
}
