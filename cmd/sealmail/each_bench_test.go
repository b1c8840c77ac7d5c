package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sealmail/sealmail/keyring"
)

// benchRecipients is the number of recipients whose copies the benchmark
// builds in turn.
const benchRecipients = 16

// eachBenchComposer returns the composer of send --each for a home with
// Alice's unlocked secret key and benchRecipients recipients, all v4
// Ed25519 keys with Cv25519 subkeys, and the recipients.
func eachBenchComposer(b testing.TB) (*eachComposer, []eachRecipient) {
	b.Helper()
	dir := b.TempDir()
	kr, err := keyring.Open(filepath.Join(dir, "keyring"))
	if err != nil {
		b.Fatal(err)
	}
	var keys bytes.Buffer
	alice, err := keyring.Generate("Alice", "alice@example.org", keyring.GenerateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := alice.SerializePrivateWithoutSigning(&keys, nil); err != nil {
		b.Fatal(err)
	}
	var lines bytes.Buffer
	for i := range benchRecipients {
		address := fmt.Sprintf("user%d@example.org", i)
		e, err := keyring.Generate("User", address, keyring.GenerateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Serialize(&keys); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintln(&lines, address)
	}
	if _, err := kr.Import(context.Background(), &keys); err != nil {
		b.Fatal(err)
	}
	body := filepath.Join(dir, "body.txt")
	if err := os.WriteFile(body, []byte(e2eText), 0o600); err != nil {
		b.Fatal(err)
	}
	list, err := parseRecipients("bench", lines.Bytes(), formatLines, "")
	if err != nil {
		b.Fatal(err)
	}

	a := &app{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}
	mf := &messageFlags{}
	mf.from.Set("Alice <alice@example.org>")
	mf.subject.Set("Statement")
	mf.textFile.Set(body)
	m, err := eachMessage(mf, list.recipients[0])
	if err != nil {
		b.Fatal(err)
	}
	ec, err := a.newEachComposer(context.Background(), &home{dir: dir}, m, mf, "bench", list.recipients)
	if err != nil {
		b.Fatal(err)
	}
	return ec, list.recipients
}

// BenchmarkEachBuildCopy measures the time per copy of send --each to
// compose, sign and encrypt, without the spool: on one goroutine, and on
// GOMAXPROCS goroutines as send --each runs it.
func BenchmarkEachBuildCopy(b *testing.B) {
	ec, list := eachBenchComposer(b)
	ctx := context.Background()

	b.Run("workers=1", func(b *testing.B) {
		var buf bytes.Buffer
		for i := 0; b.Loop(); i++ {
			if _, err := buildCopy(ctx, ec, list[i%len(list)], &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("workers=all", func(b *testing.B) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			var buf bytes.Buffer
			for pb.Next() {
				i := next.Add(1)
				if _, err := buildCopy(ctx, ec, list[i%int64(len(list))], &buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
