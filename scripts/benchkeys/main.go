// Command benchkeys writes N generated OpenPGP certificates, binary and
// concatenated, for the keyring benchmarks: one v4 Ed25519 key with a
// Cv25519 subkey for each of user0@bench.example ... userN-1@bench.example.
//
// Usage: go run ./scripts/benchkeys -n 10000 -o keys.pgp
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/sealmail/sealmail/keyring"
)

func main() {
	n := flag.Int("n", 10000, "number of keys")
	out := flag.String("o", "keys.pgp", "output `file`")
	flag.Parse()
	if err := run(*n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchkeys:", err)
		os.Exit(1)
	}
}

func run(n int, out string) error {
	certs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				certs[i], errs[i] = generate(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, cert := range certs {
		if errs[i] != nil {
			f.Close()
			return errs[i]
		}
		w.Write(cert)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// generate returns the binary certificate of key i.
func generate(i int) ([]byte, error) {
	e, err := keyring.Generate(fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@bench.example", i), keyring.GenerateOptions{})
	if err != nil {
		return nil, err
	}
	var buf bytesBuffer
	if err := e.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("failed to serialize key %d: %w", i, err)
	}
	return buf, nil
}

// bytesBuffer is a minimal io.Writer that appends to itself.
type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
