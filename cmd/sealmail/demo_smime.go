package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/sealmail/sealmail/crypto/smime"
	"github.com/sealmail/sealmail/keyring"
)

// demoPKI is what the S/MIME demo made: the CA and each recipient's
// certificate and key, to open the copies with.
type demoPKI struct {
	ca    *demoCA
	certs map[string]*x509.Certificate
	keys  map[string]crypto.Signer
}

// demoSMIMEKeys makes a throwaway CA and a P-256 certificate for each
// person. The CA becomes the home's trust anchor; the sender's identity goes
// into the keyring as a PKCS#12 bundle locked with a random password, and
// the recipients' certificates beside it. The recipients' keys go into files
// so that openssl can open the copies.
func (a *app) demoSMIMEKeys(ctx context.Context, h *home, people []*demoPerson, files, passphraseFile string) (*demoPKI, error) {
	kr, err := h.keyring()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	a.progress("making a throwaway certificate authority")
	ca, err := newDemoCA(now)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(files, "ca.pem")
	if err := os.WriteFile(caFile, pemCertificates(ca.root), 0o644); err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", caFile, err)
	}
	if _, err := kr.AddTrustAnchor(ctx, bytes.NewReader(pemCertificates(ca.root))); err != nil {
		return nil, err
	}

	pki := &demoPKI{ca: ca, certs: map[string]*x509.Certificate{}, keys: map[string]crypto.Signer{}}
	for i, p := range people {
		a.progress("issuing a certificate for %s", p.address)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		cert, err := ca.issue(p.name, p.address, key.Public(), now)
		if err != nil {
			return nil, err
		}
		pki.certs[p.address], pki.keys[p.address] = cert, key

		var input []byte
		var opts keyring.ImportOptions
		if i == 0 {
			password := make([]byte, 16)
			if _, err := rand.Read(password); err != nil {
				return nil, err
			}
			phrase := hex.EncodeToString(password)
			if err := os.WriteFile(passphraseFile, []byte(phrase+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("failed to write the password file: %w", err)
			}
			if input, err = pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca.intermediate}, phrase); err != nil {
				return nil, fmt.Errorf("failed to make the demo PKCS#12 bundle: %w", err)
			}
			opts.Password = func() ([]byte, error) { return []byte(phrase), nil }
		} else {
			input = pemCertificates(cert, ca.intermediate)
			keyPEM, err := pemPrivateKey(key)
			if err != nil {
				return nil, err
			}
			name := strings.Split(p.address, "@")[0]
			if err := os.WriteFile(filepath.Join(files, name+".key"), keyPEM, 0o600); err != nil {
				return nil, fmt.Errorf("failed to write the key of %s: %w", p.address, err)
			}
			if err := os.WriteFile(filepath.Join(files, name+".pem"), pemCertificates(cert), 0o644); err != nil {
				return nil, fmt.Errorf("failed to write the certificate of %s: %w", p.address, err)
			}
		}
		if _, err := kr.ImportWithOptions(ctx, bytes.NewReader(input), opts); err != nil {
			return nil, err
		}
		fmt.Fprintf(a.stdout, "  %-18s %s\n", p.address, cert.Subject.CommonName)
	}
	return pki, nil
}

// demoCopy is a copy in the outbox and the short name of its recipient.
type demoCopy struct{ path, recipient string }

// demoSMIMEOpen decrypts and verifies every copy in the outbox with the key
// of the recipient it was made for, prints the result and returns the copies.
func (a *app) demoSMIMEOpen(h *home, people []*demoPerson, pki *demoPKI) ([]demoCopy, error) {
	box, err := h.outbox()
	if err != nil {
		return nil, err
	}
	paths, err := box.Messages()
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca.root)
	sender := people[0]
	var copies []demoCopy

	for _, path := range paths {
		rec, err := box.ReadRecord(path)
		if err != nil {
			return nil, err
		}
		for _, p := range people[1:] {
			if !contains(rec.Envelope.Recipients, p.address) {
				continue
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			opened, err := smime.Open(bytes.NewReader(raw), pki.certs[p.address], pki.keys[p.address], roots, nil)
			if err != nil {
				return nil, fmt.Errorf("the copy for %s did not open: %w", p.address, err)
			}
			if err := checkDemoOpened(opened.Encrypted, opened.Signed, opened.SignatureErr, opened.Entity); err != nil {
				return nil, fmt.Errorf("the copy for %s: %w", p.address, err)
			}
			fmt.Fprintf(a.stdout, "  %s\n", path)
			fmt.Fprintf(a.stdout, "    decrypted with the key of %s\n", p.address)
			fmt.Fprintf(a.stdout, "    good signature from %s (%s, %s)\n", sender.address, opened.SignerCertificate.Subject.CommonName, opened.Micalg)
			fmt.Fprintf(a.stdout, "    text and attachment figures.csv equal what was sent\n")
			copies = append(copies, demoCopy{path: path, recipient: strings.Split(p.address, "@")[0]})
		}
	}
	return copies, nil
}

// checkDemoOpened checks that a copy was encrypted and signed and that its
// parts equal what the demo sent.
func checkDemoOpened(encrypted, signed bool, signatureErr error, entity []byte) error {
	switch {
	case !encrypted:
		return errors.New("the copy is not encrypted")
	case signatureErr != nil:
		return fmt.Errorf("bad signature: %w", signatureErr)
	case !signed:
		return errors.New("the copy is not signed")
	}
	text, attachment, err := demoParts(entity)
	if err != nil {
		return err
	}
	if text != demoText || attachment != demoAttachment {
		return errors.New("the decrypted text or attachment differs from what was sent")
	}
	return nil
}

func (a *app) demoSMIMEHints(dir, files, passphraseFile string, copies []demoCopy) {
	fmt.Fprintf(a.stdout, "\nthe copies are in %s\n", filepath.Join(dir, "outbox", "new"))
	fmt.Fprintf(a.stdout, "\nopen them with OpenSSL, each with its recipient's key:\n")
	for _, c := range copies {
		fmt.Fprintf(a.stdout, "  openssl cms -decrypt -in %s -recip %s -inkey %s | openssl cms -verify -CAfile %s\n",
			c.path, filepath.Join(files, c.recipient+".pem"), filepath.Join(files, c.recipient+".key"), filepath.Join(files, "ca.pem"))
	}
	fmt.Fprintf(a.stdout, "\nsend another message from this home (install the command first with: go install ./cmd/sealmail):\n")
	fmt.Fprintf(a.stdout, "  echo 'Hi Bob' | sealmail --home %s send --smime --from alice@example.org --to bob@example.org --subject Hi --text - --passphrase-file %s\n", dir, passphraseFile)
}
