package keyring

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// withUserID returns the certificate of e with a new self-signed user ID
// for address added, as the holder of e's secret key can make it.
func withUserID(t *testing.T, e *openpgp.Entity, name, address string) []byte {
	t.Helper()
	if err := e.AddUserId(name, "", address, nil); err != nil {
		t.Fatalf("AddUserId(%q): %v", address, err)
	}
	return publicBytes(t, e)
}

// confirm confirms e in k for the addresses e has, failing the test on an error.
func confirm(t *testing.T, k *Keyring, e *openpgp.Entity) {
	t.Helper()
	if _, err := k.Confirm(context.Background(), fingerprint(e), addresses(e), time.Now()); err != nil {
		t.Fatalf("Confirm(%s): %v", fingerprint(e), err)
	}
}

// provenance returns the provenance of e in k.
func provenance(t *testing.T, k *Keyring, e *openpgp.Entity) Provenance {
	t.Helper()
	p, err := k.Provenance(context.Background(), fingerprint(e))
	if err != nil {
		t.Fatalf("Provenance(%s): %v", fingerprint(e), err)
	}
	return p
}

// The attack: the user confirmed Mallory's key for mallory@. A message with
// a forged From: bob@ carries Mallory's key with a new self-signed user ID
// for bob@. It merges into the confirmed key, but the confirmation does not
// cover bob@.
func TestConfirmationCoversItsAddressesOnly(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	mallory := generate(t, "Mallory", "mallory@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, mallory))
	confirm(t, k, mallory)

	forged := withUserID(t, mallory, "Bob", "bob@example.org")
	imported, err := importMessage(t, k, autocryptMessage("bob@example.org", "bob@example.org", forged))
	if err != nil {
		t.Fatalf("Import of the forged message: %v", err)
	}
	if len(imported) != 1 || imported[0].Fingerprint != fingerprint(mallory) {
		t.Fatalf("Import = %+v, want Mallory's key merged", imported)
	}
	if w := imported[0].Warning; !strings.Contains(w, "was confirmed for mallory@example.org but not for bob@example.org") {
		t.Errorf("Warning = %q, want it to say the key is not confirmed for bob@example.org", w)
	}

	p := provenance(t, k, mallory)
	if !p.ConfirmedFor("mallory@example.org") {
		t.Error("the key is no longer confirmed for mallory@example.org")
	}
	if p.ConfirmedFor("bob@example.org") || p.ConfirmedFor("Bob@Example.org") {
		t.Error("the confirmation of mallory@example.org covers the forged user ID for bob@example.org")
	}
	if a := p.Address("bob@example.org"); a.Origin != OriginAutocrypt || a.Source != "bob@example.org" {
		t.Errorf("Address(bob) = %+v, want origin autocrypt from bob@example.org", a)
	}
	if a := p.Address("mallory@example.org"); a.Origin != OriginFile || a.Confirmed == nil {
		t.Errorf("Address(mallory) = %+v, want origin file and confirmed", a)
	}

	// Bob's own confirmed key wins over the forged user ID.
	bob := generate(t, "Bob", "bob@example.org", GenerateOptions{Now: time.Now().Add(-time.Hour)})
	importBytes(t, k, publicBytes(t, bob))
	confirm(t, k, bob)
	cert, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fingerprint(cert) != fingerprint(bob) {
		t.Errorf("EncryptionKey(bob) = %s, want Bob's confirmed key %s, not Mallory's %s", fingerprint(cert), fingerprint(bob), fingerprint(mallory))
	}

	// Confirming Mallory's key again covers the new address.
	confirm(t, k, mallory)
	if !provenance(t, k, mallory).ConfirmedFor("bob@example.org") {
		t.Error("a new confirmation does not cover the address the key has now")
	}
}

// Records from before addresses were recorded confirm no address.
func TestLegacyConfirmationCoversNoAddress(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	e := generate(t, "Olga", "olga@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	legacy := `{"origin": "wkd", "source": "https://example.org/.well-known/openpgpkey/", "added": "2025-01-02T03:04:05Z", "confirmed": "2025-01-03T00:00:00Z"}` + "\n"
	if err := os.WriteFile(k.provenancePath(fingerprint(e)), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}

	p := provenance(t, k, e)
	if p.ConfirmedFor("olga@example.org") || p.Confirmed != nil {
		t.Errorf("legacy record = %+v, want it to confirm no address", p)
	}
	if p.LegacyConfirmed == nil || p.LegacyConfirmed.Format(time.DateOnly) != "2025-01-03" {
		t.Errorf("LegacyConfirmed = %v, want 2025-01-03", p.LegacyConfirmed)
	}
	if a := p.Address("olga@example.org"); a.Origin != OriginWKD {
		t.Errorf("Address = %+v, want the key's origin wkd", a)
	}
	entries, err := k.List(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Confirmed != nil {
		t.Error("List shows a key with a legacy confirmation as confirmed")
	}

	// A key arriving by hand for the address does not count as the
	// user's consent for a user ID of a legacy record from a WKD.
	importBytes(t, k, publicBytes(t, e))
	if a := provenance(t, k, e).Address("olga@example.org"); a.Origin != OriginWKD {
		t.Errorf("after a re-import from a file, Address = %+v, want origin wkd kept", a)
	}

	confirm(t, k, e)
	p = provenance(t, k, e)
	if !p.ConfirmedFor("olga@example.org") || p.LegacyConfirmed != nil || p.Confirmed == nil {
		t.Errorf("after confirm: %+v, want olga@example.org confirmed and the legacy time dropped", p)
	}
}

func TestOwnKeyConfirmedForItsAddresses(t *testing.T) {
	k := openTemp(t)
	e := generate(t, "Alice", "alice@example.org", GenerateOptions{})
	if err := e.AddUserId("Alice", "", "alice@work.example", nil); err != nil {
		t.Fatal(err)
	}
	importBytes(t, k, secretBytes(t, e))

	p := provenance(t, k, e)
	for _, address := range []string{"alice@example.org", "alice@work.example"} {
		if !p.ConfirmedFor(address) {
			t.Errorf("the user's own key is not confirmed for %s", address)
		}
	}
}

// storeConfirmedUnusable stores and confirms in k a key for address that is
// unusable for encryption for the reason named, and returns it with its
// status.
func storeConfirmedUnusable(t *testing.T, k *Keyring, reason, address string) (*openpgp.Entity, Status) {
	t.Helper()
	e, status := makeUnusable(t, reason, address)
	importBytes(t, k, publicBytes(t, e))
	confirm(t, k, e)
	return e, status
}

// makeUnusable returns the certificate of a key for address that is
// unusable for encryption for the reason named.
func makeUnusable(t *testing.T, reason, address string) (*openpgp.Entity, Status) {
	t.Helper()
	switch reason {
	case "revoked":
		e := generate(t, "Bob", address, GenerateOptions{Now: time.Now().Add(-time.Hour)})
		if err := e.Revoke(packet.KeyCompromised, "", nil); err != nil {
			t.Fatal(err)
		}
		return e, StatusRevoked
	case "expired":
		e := generate(t, "Bob", address, GenerateOptions{Now: time.Now().Add(-72 * time.Hour), Lifetime: 48 * time.Hour})
		return e, StatusExpired
	default:
		e := generate(t, "Bob", address, GenerateOptions{Now: time.Now().Add(-time.Hour)})
		e.Subkeys = nil
		return e, StatusNoEncryption
	}
}

// A key from a message or a WKD never takes the place of an unusable
// confirmed key without the user's consent: the lookup fails and names both.
func TestUnusableConfirmedKeyFailsClosed(t *testing.T) {
	for _, reason := range []string{"revoked", "expired", "no-encryption"} {
		for _, origin := range []Origin{OriginAutocrypt, OriginWKD, OriginAttached} {
			t.Run(reason+"/"+string(origin), func(t *testing.T) {
				ctx := context.Background()
				k := openTemp(t)
				confirmed, status := storeConfirmedUnusable(t, k, reason, "bob@example.org")

				candidate := generate(t, "Bob", "bob@example.org", GenerateOptions{})
				imported, err := k.ImportWithOptions(ctx, strings.NewReader(string(publicBytes(t, candidate))),
					ImportOptions{Origin: origin, Source: "bob@example.org", Address: "bob@example.org"})
				if err != nil {
					t.Fatal(err)
				}
				if w := imported[0].Warning; !strings.Contains(w, "the confirmed key 0x"+strings.ToUpper(fingerprint(confirmed))) ||
					!strings.Contains(w, "sealmail will not encrypt mail to bob@example.org") {
					t.Errorf("import warning = %q, want it to name the unusable confirmed key and the refusal", w)
				}

				_, err = k.EncryptionKey(ctx, "bob@example.org", time.Now())
				lookup := lookupError(t, err)
				if lookup.Status != status || lookup.Fingerprint != fingerprint(confirmed) {
					t.Errorf("LookupError = %s %s, want %s %s", lookup.Status, lookup.Fingerprint, status, fingerprint(confirmed))
				}
				if lookup.HeldBack == nil || lookup.HeldBack.Fingerprint != fingerprint(candidate) || lookup.HeldBack.Origin != origin {
					t.Fatalf("HeldBack = %+v, want %s from %s", lookup.HeldBack, fingerprint(candidate), origin)
				}
				if errors.Is(err, ErrNotFound) {
					t.Error("the refusal wraps ErrNotFound")
				}
				msg := err.Error()
				for _, want := range []string{
					"the confirmed key 0x" + strings.ToUpper(fingerprint(confirmed)),
					"the key 0x" + strings.ToUpper(fingerprint(candidate)),
					`"sealmail keyring confirm ` + strings.ToUpper(fingerprint(candidate)) + `"`,
				} {
					if !strings.Contains(msg, want) {
						t.Errorf("error = %q, want it to contain %q", msg, want)
					}
				}
				if reason == "expired" && !strings.Contains(msg, "expired on "+keyExpiry(confirmed).UTC().Format(time.DateOnly)) {
					t.Errorf("error = %q, want the expiry date", msg)
				}

				// Confirming the candidate is the user's consent.
				confirm(t, k, candidate)
				cert, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
				if err != nil || fingerprint(cert) != fingerprint(candidate) {
					t.Errorf("after confirming the candidate: %v, %v", cert, err)
				}
			})
		}
	}
}

// A key the user imported by hand from a file is the user's consent: it is
// used in place of the unusable confirmed key, with the usual warning.
func TestUnusableConfirmedKeyFileImportIsUsed(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	storeConfirmedUnusable(t, k, "revoked", "bob@example.org")

	byAutocrypt := generate(t, "Bob", "bob@example.org", GenerateOptions{})
	if _, err := importMessage(t, k, autocryptMessage("bob@example.org", "bob@example.org", publicBytes(t, byAutocrypt))); err != nil {
		t.Fatal(err)
	}
	byHand := generate(t, "Bob", "bob@example.org", GenerateOptions{Now: time.Now().Add(-time.Minute)})
	imported := importBytes(t, k, publicBytes(t, byHand))
	if w := imported[0].Warning; !strings.Contains(w, "mail to bob@example.org will be encrypted to 0x"+strings.ToUpper(fingerprint(byHand))) {
		t.Errorf("import warning = %q, want it to say the hand-imported key will be used", w)
	}

	cert, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fingerprint(cert) != fingerprint(byHand) {
		t.Errorf("EncryptionKey = %s, want the key imported by hand %s, not the newer Autocrypt key", fingerprint(cert), fingerprint(byHand))
	}
}

// A user ID that a message added to a key imported by hand is not the
// user's consent either, so that key does not replace an unusable
// confirmed key for the address of the added user ID.
func TestForgedUserIDDoesNotReplaceUnusableConfirmedKey(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	storeConfirmedUnusable(t, k, "revoked", "bob@example.org")
	mallory := generate(t, "Mallory", "mallory@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, mallory))
	confirm(t, k, mallory)

	forged := withUserID(t, mallory, "Bob", "bob@example.org")
	if _, err := importMessage(t, k, attachedMessage("bob@example.org", armored(t, openpgp.PublicKeyType, forged))); err != nil {
		t.Fatal(err)
	}
	_, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.HeldBack == nil || lookup.HeldBack.Fingerprint != fingerprint(mallory) || lookup.HeldBack.Origin != OriginAttached {
		t.Fatalf("EncryptionKey(bob) = %v, want a refusal that names Mallory's key from the attached key", err)
	}
}

// Confirm covers only the addresses the user was shown: a user ID that an
// import added while the user read the prompt stays unconfirmed.
func TestConfirmCoversOnlyTheAddressesGiven(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	e := generate(t, "Carol", "carol@example.org", GenerateOptions{})
	importBytes(t, k, withUserID(t, e, "Carol", "carol@work.example"))

	p, err := k.Confirm(ctx, fingerprint(e), []string{"Carol@Example.org", "nobody@example.org"}, time.Now())
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if !p.ConfirmedFor("carol@example.org") {
		t.Error("the address given is not confirmed")
	}
	for _, address := range []string{"carol@work.example", "nobody@example.org"} {
		if p.ConfirmedFor(address) || provenance(t, k, e).ConfirmedFor(address) {
			t.Errorf("%s is confirmed, but it was not given or the key has no user ID for it", address)
		}
	}
	if got := p.ConfirmedAddresses(); len(got) != 1 || got[0] != "carol@example.org" {
		t.Errorf("ConfirmedAddresses = %q, want [carol@example.org]", got)
	}

	if _, err := k.Confirm(ctx, fingerprint(e), nil, time.Now()); err == nil {
		t.Error("Confirm with no address succeeded")
	}
}

// A user ID that has no entry in a provenance record with addresses was
// added by another cert-d tool, or its arrival was not recorded. Its origin
// is unknown rather than that of the key, so it cannot replace an unusable
// confirmed key as if the user had imported it.
func TestUnrecordedUserIDHasUnknownOrigin(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	bob, _ := storeConfirmedUnusable(t, k, "revoked", "bob@example.org")
	mallory := generate(t, "Mallory", "mallory@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, mallory))
	if a := provenance(t, k, mallory).Address("mallory@example.org"); a.Origin != OriginFile {
		t.Fatalf("Address(mallory) = %+v, want origin file", a)
	}

	// Another OpenPGP tool replaces the certificate, as cert-d tools do,
	// with one that has a user ID for bob@.
	forged := withUserID(t, mallory, "Bob", "bob@example.org")
	temp := k.certPath(fingerprint(mallory)) + ".tmp"
	if err := os.WriteFile(temp, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(temp, k.certPath(fingerprint(mallory))); err != nil {
		t.Fatal(err)
	}
	// A lookup trusts the index for fullCheckInterval; skip the wait.
	if err := k.refreshIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if a := provenance(t, k, mallory).Address("bob@example.org"); a.Origin != OriginUnknown || a.Confirmed != nil {
		t.Errorf("Address(bob) = %+v, want unknown origin and unconfirmed", a)
	}
	_, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Fingerprint != fingerprint(bob) || lookup.HeldBack == nil || lookup.HeldBack.Fingerprint != fingerprint(mallory) {
		t.Errorf("EncryptionKey(bob) = %v, want a refusal that names the revoked confirmed key and holds back Mallory's", err)
	}
}

// When no key is usable, the failure reported is that of the key the user
// confirmed, even when an unusable unconfirmed key is newer.
func TestUnusableConfirmedKeyFailureIsReported(t *testing.T) {
	ctx := context.Background()
	k := openTemp(t)
	confirmed, status := storeConfirmedUnusable(t, k, "expired", "bob@example.org")
	newer, _ := makeUnusable(t, "revoked", "bob@example.org")
	importBytes(t, k, publicBytes(t, newer))

	_, err := k.EncryptionKey(ctx, "bob@example.org", time.Now())
	lookup := lookupError(t, err)
	if lookup.Fingerprint != fingerprint(confirmed) || lookup.Status != status {
		t.Errorf("LookupError = %s %s, want the confirmed key's %s %s", lookup.Status, lookup.Fingerprint, status, fingerprint(confirmed))
	}
}
