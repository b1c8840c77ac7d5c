package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sealmail/sealmail/keyring"
	"github.com/sealmail/sealmail/transport/maildir"
)

// home is the folder that contains everything sealmail keeps:
//
//	config.toml  the defaults of compose and send
//	keyring/     OpenPGP and X.509 certificates, the user's secret keys
//	outbox/      Maildir of messages written with no transport chosen
//	spool/       copies waiting for SES or SMTP to accept them
//	sent/        Maildir of every copy a transport accepted, with its message ID
//	tmp/         copies being written, before they are sent
type home struct {
	dir string
	// lockWait prints the notice that a keyring write waits for the lock.
	lockWait func(path string)
}

// openHome returns the home named by --home, SEALMAIL_HOME or the XDG data
// folder, creating it with mode 0700.
func (a *app) openHome() (*home, error) {
	dir, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the sealmail home: %w", err)
	}
	if err := checkHomeMode(dir); err != nil {
		return nil, err
	}
	return &home{dir: dir, lockWait: a.lockWaitNotice()}, nil
}

// lockWaitNotice returns the function that prints, once per command, that a
// keyring write waits for another program to release the writelock, so a
// user who sees no progress learns the reason. The wait itself ends with the
// lock or on SIGINT or SIGTERM, which cancel the command's context.
func (a *app) lockWaitNotice() func(path string) {
	var once sync.Once
	return func(path string) {
		once.Do(func() {
			a.progress("waiting for the keyring lock %s, held by another program", path)
		})
	}
}

// checkHomeMode rejects a home that other users may write to, because they
// could then swap the keyring or the outbox for their own. A home that they
// may only read is accepted, because the secret folder inside is mode 0700.
func checkHomeMode(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failed to read the sealmail home: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("the sealmail home %s is writable by other users (mode %04o): run \"chmod go-w %s\", or choose another folder with --home", dir, perm, dir)
	}
	return nil
}

// homeDir returns the folder of the home without creating it.
func (a *app) homeDir() (string, error) {
	dir := a.home
	if dir == "" {
		dir = a.getenv("SEALMAIL_HOME")
	}
	if dir == "" {
		// A relative XDG_DATA_HOME is ignored, as the XDG base directory
		// specification requires.
		data := a.getenv("XDG_DATA_HOME")
		if !filepath.IsAbs(data) {
			userHome, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("failed to find the home folder: %w; set --home or SEALMAIL_HOME", err)
			}
			data = filepath.Join(userHome, ".local", "share")
		}
		dir = filepath.Join(data, "sealmail")
	}
	return dir, nil
}

func (h *home) keyring() (*keyring.Keyring, error) {
	kr, err := keyring.Open(filepath.Join(h.dir, "keyring"))
	if err != nil {
		return nil, err
	}
	kr.OnLockWait(h.lockWait)
	return kr, nil
}

func (h *home) outbox() (*maildir.Maildir, error) {
	return maildir.Open(filepath.Join(h.dir, "outbox"))
}

func (h *home) sent() (*maildir.Maildir, error) {
	return maildir.Open(filepath.Join(h.dir, "sent"))
}

// staleAge is the age after which a file in tmp/ counts as left by a
// killed process. A send in progress writes its copies within minutes.
const staleAge = 24 * time.Hour

// removeStaleCopies deletes copies in tmp/ that a killed process left
// behind. Errors are ignored, because a leftover file harms nothing but
// disk space.
func (h *home) removeStaleCopies() {
	paths, _ := filepath.Glob(filepath.Join(h.dir, "tmp", "copy-*.eml"))
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && time.Since(info.ModTime()) > staleAge {
			os.Remove(p)
		}
	}
}

// tempFile creates a file of mode 0600 for a copy being written.
func (h *home) tempFile() (*os.File, error) {
	dir := filepath.Join(h.dir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", dir, err)
	}
	return os.CreateTemp(dir, "copy-*.eml")
}
