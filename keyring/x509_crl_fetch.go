package keyring

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Names and limits of the CRL cache and fetches.
const (
	crlDirName      = "crls" // inside the x509 folder
	crlExt          = ".crl"
	maxCRLSize      = 10 << 20 // bytes
	crlFetchTimeout = 10 * time.Second
)

// crlPath returns the path of the cached CRL of the distribution point url:
// "x509/crls/<lowercase hex SHA-256 of url>.crl".
func (k *Keyring) crlPath(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(k.x509Dir(false), crlDirName, hex.EncodeToString(sum[:])+crlExt)
}

// readCachedCRL returns the DER CRL cached for url, or nil when none can be
// read. Readers need no lock, because writeCachedCRL renames whole files
// into place.
func (k *Keyring) readCachedCRL(url string) []byte {
	data, err := os.ReadFile(k.crlPath(url))
	if err != nil {
		return nil
	}
	return data
}

// writeCachedCRL stores the DER CRL of url in the cache. It takes no lock:
// the atomic rename of writeFileAtomic makes concurrent writers safe, and
// the last one wins, which is a verified CRL too.
func (k *Keyring) writeCachedCRL(url string, der []byte) error {
	if err := makeDir(k.x509Dir(false)); err != nil {
		return err
	}
	path := k.crlPath(url)
	if err := makeDir(filepath.Dir(path)); err != nil {
		return err
	}
	return writeFileAtomic(path, der)
}

// httpClient returns the client of the policy, or the default one: a
// timeout of crlFetchTimeout, TLS 1.2 or later with certificate
// verification for https://, the proxy of the environment, and no idle
// connections kept after the fetch.
func (r *revocationChecker) httpClient() *http.Client {
	if r.policy.HTTPClient != nil {
		return r.policy.HTTPClient
	}
	if r.client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		transport.DisableKeepAlives = true
		r.client = &http.Client{Timeout: crlFetchTimeout, Transport: transport}
	}
	return r.client
}

// fetchCRL fetches the CRL at url, which is http:// or https://, and
// returns its bytes, at most maxCRLSize of them.
func (r *revocationChecker) fetchCRL(ctx context.Context, url string) ([]byte, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	response, err := r.httpClient().Do(request)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch the CRL: %w", err)
	}
	defer response.Body.Close()

	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to fetch the CRL: the server returned %q", response.Status)
	}
	data, err := io.ReadAll(io.LimitReader(response.Body, maxCRLSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read the CRL: %w", err)
	}
	if len(data) > maxCRLSize {
		return nil, fmt.Errorf("the CRL is larger than the maximum of %d MiB", maxCRLSize>>20)
	}
	return data, nil
}
