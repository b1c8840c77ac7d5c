package keyring

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProvenanceDamagedIsReported(t *testing.T) {
	k := openTemp(t)
	ctx := context.Background()
	e := generate(t, "Ned", "ned@example.org", GenerateOptions{})
	importBytes(t, k, publicBytes(t, e))
	if _, err := k.Confirm(ctx, fingerprint(e), []string{"ned@example.org"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.provenancePath(fingerprint(e)), []byte("garbage{"), 0o600); err != nil {
		t.Fatal(err)
	}

	entries, err := k.List(ctx, time.Now())
	if err != nil {
		t.Fatalf("List with a damaged provenance file: %v", err)
	}
	if len(entries) != 1 {
		t.Fatalf("List = %d entries, want 1", len(entries))
	}
	if entries[0].Confirmed != nil {
		t.Error("a key with a damaged provenance file is listed as confirmed")
	}
	if !strings.Contains(entries[0].ProvenanceProblem, "damaged") {
		t.Errorf("ProvenanceProblem = %q, want the damage named", entries[0].ProvenanceProblem)
	}

	// Confirming again repairs it.
	if _, err := k.Confirm(ctx, fingerprint(e), []string{"ned@example.org"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	entries, err = k.List(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].ProvenanceProblem != "" || entries[0].Confirmed == nil {
		t.Errorf("after confirm: %+v, want confirmed without a problem", entries[0])
	}
}
