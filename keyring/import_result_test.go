package keyring

import (
	"strings"
	"testing"
)

func TestImportSameKeyUnchanged(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Lou", "lou@example.org", GenerateOptions{})
	first := importBytes(t, k, publicBytes(t, e))
	if first[0].Updated || first[0].Unchanged {
		t.Errorf("first import = %+v, want a new key", first[0])
	}

	again := importBytes(t, k, publicBytes(t, e))
	if !again[0].Updated {
		t.Error("second import: Updated is not set")
	}
	if !again[0].Unchanged {
		t.Error("second import of the same key: Unchanged is not set")
	}

	if err := e.AddUserId("Lou", "", "lou@work.example", nil); err != nil {
		t.Fatal(err)
	}
	grown := importBytes(t, k, publicBytes(t, e))
	if grown[0].Unchanged {
		t.Error("import with a new user ID: Unchanged is set")
	}
}

func TestImportUnprotectedSecretWarns(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Max", "max@example.org", GenerateOptions{})
	imported := importBytes(t, k, secretBytes(t, e))
	if !strings.Contains(imported[0].Warning, "not protected by a passphrase") {
		t.Errorf("Warning = %q, want the note that the secret key is unprotected", imported[0].Warning)
	}

	if err := e.EncryptPrivateKeys([]byte("pass"), nil); err != nil {
		t.Fatal(err)
	}
	protected := openTemp(t)
	imported = importBytes(t, protected, secretBytes(t, e))
	if strings.Contains(imported[0].Warning, "not protected") {
		t.Errorf("Warning = %q for a protected key", imported[0].Warning)
	}
}
