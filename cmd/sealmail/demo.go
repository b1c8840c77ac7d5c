package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message"

	"github.com/sealmail/sealmail/crypto/pgpmime"
	"github.com/sealmail/sealmail/keyring"
)

const demoText = `Hello Bob,

the quarterly figures are attached. Carol gets a blind copy.

Alice
`

const demoAttachment = "quarter,revenue,costs\r\nQ1,120,80\r\nQ2,135,82\r\n"

// demoPerson is one of the people the demo makes keys for.
type demoPerson struct {
	name, address string
	entity        *openpgp.Entity
}

// demo runs the main job in a new home: it makes keys, sends a signed and
// encrypted message with an attachment and a Bcc recipient to the outbox, and
// opens every copy again as its recipient would.
func (a *app) demo(ctx context.Context, args []string) error {
	fs := a.newFlagSet("demo", "demo [--smime]")
	useSMIME := fs.Bool("smime", false, "show S/MIME with a throwaway certificate authority instead of OpenPGP")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("demo: unexpected argument %q", fs.Arg(0))
	}
	if a.home != "" {
		return usagef("demo makes a new home of its own; run it without --home")
	}

	dir, err := os.MkdirTemp("", "sealmail-demo-")
	if err != nil {
		return fmt.Errorf("failed to create the demo home: %w", err)
	}
	a.home = dir
	h, err := a.openHome()
	if err != nil {
		return err
	}
	files := filepath.Join(dir, "demo")
	if err := os.MkdirAll(files, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", files, err)
	}
	fmt.Fprintf(a.stdout, "demo home: %s\n\n", dir)

	people := []*demoPerson{
		{name: "Alice Sender", address: "alice@example.org"},
		{name: "Bob Recipient", address: "bob@example.org"},
		{name: "Carol Blind-Copy", address: "carol@example.org"},
	}
	passphraseFile := filepath.Join(files, "alice.passphrase")
	var pki *demoPKI
	if *useSMIME {
		if pki, err = a.demoSMIMEKeys(ctx, h, people, files, passphraseFile); err != nil {
			return err
		}
	} else if err := a.demoKeys(ctx, h, people, files, passphraseFile); err != nil {
		return err
	}

	textFile := filepath.Join(files, "message.txt")
	attachFile := filepath.Join(files, "figures.csv")
	if err := os.WriteFile(textFile, []byte(demoText), 0o600); err != nil {
		return fmt.Errorf("failed to write the demo text: %w", err)
	}
	if err := os.WriteFile(attachFile, []byte(demoAttachment), 0o600); err != nil {
		return fmt.Errorf("failed to write the demo attachment: %w", err)
	}

	fmt.Fprintf(a.stdout, "\nsending a signed and encrypted message with an attachment to the outbox:\n")
	mf := &messageFlags{
		from:           onceFlag{value: "Alice Sender <alice@example.org>"},
		to:             listFlag{"Bob Recipient <bob@example.org>"},
		bcc:            listFlag{"carol@example.org"},
		subject:        onceFlag{value: "Quarterly figures"},
		textFile:       onceFlag{value: textFile},
		attach:         listFlag{attachFile},
		passphraseFile: onceFlag{value: passphraseFile},
		smime:          *useSMIME,
	}
	m, err := mf.message(a.stdin)
	if err != nil {
		return err
	}
	if err := a.sendMessage(ctx, h, m, mf, &sendFlags{}); err != nil {
		return err
	}

	fmt.Fprintf(a.stdout, "\nopening each copy as its recipient:\n")
	if pki != nil {
		copies, err := a.demoSMIMEOpen(h, people, pki)
		if err != nil {
			return err
		}
		a.demoSMIMEHints(dir, files, passphraseFile, copies)
		return nil
	}
	paths, err := a.demoOpen(h, people)
	if err != nil {
		return err
	}
	a.demoHints(dir, files, passphraseFile, paths)
	return nil
}

// demoKeys makes a key for each person. The sender's secret key, locked with
// a random passphrase, and the recipients' certificates go into the keyring.
// The recipients' secret keys go into files without a passphrase, so that the
// printed gpg commands open the copies.
func (a *app) demoKeys(ctx context.Context, h *home, people []*demoPerson, files, passphraseFile string) error {
	kr, err := h.keyring()
	if err != nil {
		return err
	}
	for i, p := range people {
		a.progress("generating a key for %s", p.address)
		e, err := keyring.Generate(p.name, p.address, keyring.GenerateOptions{})
		if err != nil {
			return err
		}
		p.entity = e

		var toImport bytes.Buffer
		if i == 0 {
			passphrase := make([]byte, 16)
			if _, err := rand.Read(passphrase); err != nil {
				return err
			}
			phrase := hex.EncodeToString(passphrase)
			if err := os.WriteFile(passphraseFile, []byte(phrase+"\n"), 0o600); err != nil {
				return fmt.Errorf("failed to write the passphrase file: %w", err)
			}
			locked, err := lockedCopy(e, []byte(phrase))
			if err != nil {
				return err
			}
			if err := writeArmored(&toImport, openpgp.PrivateKeyType, secretSerializer(locked)); err != nil {
				return err
			}
		} else {
			if err := writeArmored(&toImport, openpgp.PublicKeyType, e.Serialize); err != nil {
				return err
			}
			var secret bytes.Buffer
			if err := writeArmored(&secret, openpgp.PrivateKeyType, secretSerializer(e)); err != nil {
				return err
			}
			name := strings.Split(p.address, "@")[0] + ".secret.asc"
			if err := os.WriteFile(filepath.Join(files, name), secret.Bytes(), 0o600); err != nil {
				return fmt.Errorf("failed to write %s: %w", name, err)
			}
		}
		if _, err := kr.Import(ctx, &toImport); err != nil {
			return err
		}
		// The demo made the recipients' keys itself, so their fingerprints
		// need no check with their owners. The sender's key is confirmed
		// by the import of its secret key.
		if i > 0 {
			if _, err := kr.Confirm(ctx, fmt.Sprintf("%x", e.PrimaryKey.Fingerprint), []string{p.address}, time.Now()); err != nil {
				return err
			}
		}
		fmt.Fprintf(a.stdout, "  %-18s %X\n", p.address, e.PrimaryKey.Fingerprint)
	}

	var public bytes.Buffer
	if err := writeArmored(&public, openpgp.PublicKeyType, people[0].entity.Serialize); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(files, "alice.public.asc"), public.Bytes(), 0o644)
}

// lockedCopy returns a copy of e whose secret keys are encrypted with
// passphrase; e itself stays unlocked for the demo's own checks.
func lockedCopy(e *openpgp.Entity, passphrase []byte) (*openpgp.Entity, error) {
	var buf bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&buf, nil); err != nil {
		return nil, err
	}
	c, err := openpgp.ReadEntity(packet.NewReader(&buf))
	if err != nil {
		return nil, err
	}
	if err := c.EncryptPrivateKeys(passphrase, &packet.Config{DefaultCipher: packet.CipherAES256}); err != nil {
		return nil, fmt.Errorf("failed to protect the demo key: %w", err)
	}
	return c, nil
}

func writeArmored(w io.Writer, blockType string, serialize func(io.Writer) error) error {
	aw, err := armor.Encode(w, blockType, nil)
	if err != nil {
		return err
	}
	if err := serialize(aw); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// demoOpen decrypts and verifies every copy in the outbox with the key of
// the recipient it was made for, prints the result and returns the paths.
func (a *app) demoOpen(h *home, people []*demoPerson) ([]string, error) {
	box, err := h.outbox()
	if err != nil {
		return nil, err
	}
	paths, err := box.Messages()
	if err != nil {
		return nil, err
	}
	sender := people[0]
	for _, path := range paths {
		rec, err := box.ReadRecord(path)
		if err != nil {
			return nil, err
		}
		for _, p := range people[1:] {
			if !contains(rec.Envelope.Recipients, p.address) {
				continue
			}
			if err := a.demoOpenCopy(path, p, sender); err != nil {
				return nil, fmt.Errorf("the copy for %s did not open: %w", p.address, err)
			}
		}
	}
	return paths, nil
}

func (a *app) demoOpenCopy(path string, p, sender *demoPerson) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	keys := openpgp.EntityList{p.entity, publicOnly(sender.entity)}
	opened, err := pgpmime.Open(f, keys, nil)
	if err != nil {
		return err
	}
	if !opened.Encrypted {
		return errors.New("the copy is not encrypted")
	}
	if opened.SignatureErr != nil {
		return fmt.Errorf("bad signature: %w", opened.SignatureErr)
	}
	if !opened.Signed {
		return errors.New("the copy is not signed")
	}
	text, attachment, err := demoParts(opened.Entity)
	if err != nil {
		return err
	}
	if text != demoText {
		return fmt.Errorf("the decrypted text differs from what was sent: %q", text)
	}
	if attachment != demoAttachment {
		return errors.New("the decrypted attachment differs from what was sent")
	}

	fmt.Fprintf(a.stdout, "  %s\n", path)
	fmt.Fprintf(a.stdout, "    decrypted with the key of %s; encrypted to %d keys: %s\n", p.address, len(opened.RecipientKeyIDs), keyIDs(opened.RecipientKeyIDs))
	fmt.Fprintf(a.stdout, "    good signature from %s (%s, %s)\n", sender.address, strings.ToUpper(opened.Signer), opened.Hash)
	fmt.Fprintf(a.stdout, "    text and attachment figures.csv (%d bytes) equal what was sent\n", len(attachment))
	return nil
}

// demoParts returns the text and the attachment of the demo's decrypted
// MIME entity.
func demoParts(entity []byte) (text, attachment string, err error) {
	e, err := message.Read(bytes.NewReader(entity))
	if err != nil {
		return "", "", err
	}
	if e.MultipartReader() == nil {
		return "", "", errors.New("the decrypted entity is not multipart")
	}
	// Header protection wraps the body in a multipart of its own, so the
	// leaves are found at any depth.
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if part.MultipartReader() != nil {
			return nil
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		mediaType, _, _ := part.Header.ContentType()
		if _, params, _ := part.Header.ContentDisposition(); params["filename"] != "" {
			attachment = string(body)
		} else if mediaType == "text/plain" {
			// Text bodies travel with CRLF line endings.
			text = strings.ReplaceAll(string(body), "\r\n", "\n")
		}
		return nil
	})
	return text, attachment, err
}

func (a *app) demoHints(dir, files, passphraseFile string, paths []string) {
	fmt.Fprintf(a.stdout, "\nthe copies are in %s\n", filepath.Join(dir, "outbox", "new"))
	fmt.Fprintf(a.stdout, "\nopen them with GnuPG:\n")
	fmt.Fprintf(a.stdout, "  export GNUPGHOME=$(mktemp -d)\n")
	fmt.Fprintf(a.stdout, "  gpg --import %s %s %s\n", filepath.Join(files, "alice.public.asc"), filepath.Join(files, "bob.secret.asc"), filepath.Join(files, "carol.secret.asc"))
	for _, p := range paths {
		fmt.Fprintf(a.stdout, "  gpg --decrypt %s\n", p)
	}
	fmt.Fprintf(a.stdout, "\nsend another message from this home (install the command first with: go install ./cmd/sealmail):\n")
	fmt.Fprintf(a.stdout, "  sealmail --home %s keyring list\n", dir)
	fmt.Fprintf(a.stdout, "  echo 'Hi Bob' | sealmail --home %s send --from alice@example.org --to bob@example.org --subject Hi --text - --passphrase-file %s\n", dir, passphraseFile)
}

// publicOnly returns e without its secret key material.
func publicOnly(e *openpgp.Entity) *openpgp.Entity {
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return e
	}
	pub, err := openpgp.ReadEntity(packet.NewReader(&buf))
	if err != nil {
		return e
	}
	return pub
}

func keyIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprintf("%016X", id)
	}
	return strings.Join(s, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// secretSerializer returns a function that writes the secret key e as it is,
// without making new self-signatures.
func secretSerializer(e *openpgp.Entity) func(io.Writer) error {
	return func(w io.Writer) error { return e.SerializePrivateWithoutSigning(w, nil) }
}
