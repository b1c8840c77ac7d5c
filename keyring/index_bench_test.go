package keyring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchKeyring returns a keyring folder with n certificates for
// user0@bench.example and on, written straight into the certificate
// directory, since Import syncs every file and would dominate the setup.
func benchKeyring(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	k, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}

	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, runtime.NumCPU())
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e, err := Generate(fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@bench.example", i), GenerateOptions{})
				if err == nil {
					var data []byte
					data, err = encodeEntity(e, false)
					if err == nil {
						fpr := hexFingerprint(e.PrimaryKey.Fingerprint)
						os.MkdirAll(filepath.Dir(k.certPath(fpr)), 0o700)
						err = os.WriteFile(k.certPath(fpr), data, 0o600)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkEncryptionKey10k measures a lookup by address among 10,000
// certificates once the index is loaded: the freshness check of the index,
// and reading and checking the one certificate.
func BenchmarkEncryptionKey10k(b *testing.B) {
	dir := benchKeyring(b, 10000)
	k, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	// The first lookup builds and saves the index; the folder times must
	// be older than racyWindow to be trusted, as in a keyring at rest.
	if _, err := k.EncryptionKey(ctx, "user1@bench.example", now); err != nil {
		b.Fatal(err)
	}
	time.Sleep(racyWindow)
	if _, err := k.EncryptionKey(ctx, "user1@bench.example", now); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		address := fmt.Sprintf("user%d@bench.example", i%10000)
		if _, err := k.EncryptionKey(ctx, address, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndexLoad10k measures what a new process pays before its first
// lookup: reading the saved index of 10,000 certificates and checking it
// against the folder times.
func BenchmarkIndexLoad10k(b *testing.B) {
	dir := benchKeyring(b, 10000)
	k, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := k.EncryptionKey(ctx, "user1@bench.example", time.Now()); err != nil {
		b.Fatal(err)
	}
	time.Sleep(racyWindow)
	if _, err := k.EncryptionKey(ctx, "user1@bench.example", time.Now()); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for b.Loop() {
		fresh, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := fresh.indexLookup(ctx, "user1@bench.example", checkAlways); err != nil {
			b.Fatal(err)
		}
	}
}
