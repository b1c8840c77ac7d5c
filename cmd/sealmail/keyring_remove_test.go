package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sealmail/sealmail/keyring"
)

// cmdCertFingerprint sets an environment variable to the SHA-256
// fingerprint that the keyring lists for the first certificate of a PEM
// file:
//
//	certfingerprint VAR FILE
func cmdCertFingerprint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: certfingerprint VAR FILE")
	}
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	block, _ := pem.Decode(data)
	if block == nil {
		ts.Fatalf("%s contains no PEM block", args[1])
	}
	ts.Setenv(args[0], fmt.Sprintf("%X", sha256.Sum256(block.Bytes)))
}

func TestRemoveQuestionSecretKey(t *testing.T) {
	e := keyring.Entry{Kind: keyring.KindOpenPGP, Fingerprint: strings.Repeat("ab", 20), UserIDs: []string{"alice@example.org"}, Secret: true}
	question := removeQuestion([]keyring.Entry{e})
	if !strings.Contains(question, "DELETE its secret key") {
		t.Errorf("question %q does not say that the secret key is deleted", question)
	}
	if !strings.Contains(question, "sealmail keyring export --secret --output FILE "+strings.Repeat("AB", 20)) {
		t.Errorf("question %q does not say how to export the secret key first", question)
	}
}

func TestRemoveQuestionCertificate(t *testing.T) {
	e := keyring.Entry{Kind: keyring.KindOpenPGP, Fingerprint: strings.Repeat("ab", 20), UserIDs: []string{"bob@example.org"}}
	question := removeQuestion([]keyring.Entry{e})
	if strings.Contains(question, "secret") {
		t.Errorf("question %q mentions a secret key that the entry does not have", question)
	}
}

func TestFindPrimaryKeyWrapsOtherErrors(t *testing.T) {
	kr, err := keyring.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := keyring.Generate("Bob", "bob@example.org", keyring.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var public bytes.Buffer
	if err := e.Serialize(&public); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Import(context.Background(), &public); err != nil {
		t.Fatal(err)
	}
	fpr := fmt.Sprintf("%x", e.PrimaryKey.Fingerprint)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = findPrimaryKey(ctx, kr, fpr)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want it to wrap context.Canceled", err)
	}
	if err != nil && strings.Contains(err.Error(), "no key with the fingerprint") {
		t.Errorf("error = %q, want no claim that the key is missing", err)
	}

	_, err = findPrimaryKey(context.Background(), kr, strings.Repeat("0", 40))
	if err == nil || !strings.Contains(err.Error(), "no key with the fingerprint") {
		t.Errorf("error for an unknown fingerprint = %v, want it to say there is no such key", err)
	}
}
