package cms

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sealmail/sealmail/internal/peers"
)

// TestEncryptStreamsCBC encrypts 20 MB written in pieces and checks that
// the heap never grows by more than a few chunks, then that openssl
// decrypts the file to the same bytes.
func TestEncryptStreamsCBC(t *testing.T) {
	const size = 20 << 20
	const maxGrowth = 4 << 20 // bytes of heap; the content alone is 20 MiB

	r := newRecipient(t, t.TempDir(), "p256")
	path := filepath.Join(t.TempDir(), "large.ber")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	baseline := stats.HeapAlloc

	w, err := Encrypt(file, []*x509.Certificate{r.cert}, nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	source := rand.NewChaCha8([32]byte{1})
	piece := make([]byte, 50_000) // not a multiple of the block or chunk size
	hash := sha256.New()
	peak := uint64(0)
	for written := 0; written < size; written += len(piece) {
		source.Read(piece)
		hash.Write(piece)
		if _, err := w.Write(piece); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if written%(1<<20) < len(piece) {
			runtime.ReadMemStats(&stats)
			peak = max(peak, stats.HeapAlloc)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}

	if growth := int64(peak) - int64(baseline); growth > maxGrowth {
		t.Errorf("heap grew by %d bytes while encrypting %d bytes, want at most %d", growth, size, maxGrowth)
	}

	openssl := peers.Require(t, "openssl")
	cmd := exec.Command(openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", path, "-recip", r.certFile, "-inkey", r.keyFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	plaintext, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl cms -decrypt: %v\n%s", err, stderr.String())
	}
	if got := sha256.Sum256(plaintext); !bytes.Equal(got[:], hash.Sum(nil)) {
		t.Errorf("openssl decrypted %d bytes that differ from the %d bytes encrypted", len(plaintext), size)
	}
}
