package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealmail/sealmail/internal/atomicfile"
)

func (a *app) compose(ctx context.Context, args []string) error {
	fs := a.newFlagSet("compose", "compose [message flags] [--out DIR]")
	var f messageFlags
	f.register(fs)
	out := fs.String("out", "", "write every copy as a file into `DIR`, needed when Bcc recipients get copies of their own")
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("compose: unexpected argument %q", fs.Arg(0))
	}
	if err := a.applyConfig(&f, nil); err != nil {
		return err
	}

	m, err := f.message(a.stdin)
	if err != nil {
		return err
	}
	h, err := a.openHome()
	if err != nil {
		return err
	}
	c, err := a.composer(ctx, h, m, &f)
	if err != nil {
		return err
	}

	copies := c.Copies()
	if *out == "" {
		if len(copies) > 1 {
			return usagef("the message is written as %d copies, one per Bcc recipient and one for To and Cc: give --out DIR to write them all", len(copies))
		}
		if len(m.Bcc) > 0 {
			bcc := make([]string, len(m.Bcc))
			for i, addr := range m.Bcc {
				bcc[i] = addr.Address
			}
			a.progress("note: the Bcc recipients %s are only in the envelope, which standard output cannot carry", strings.Join(bcc, ", "))
		}
		return writeWhole(h, a.stdout, func(w io.Writer) error { return c.WriteCopy(ctx, w, 0) })
	}

	if err := emptyFolder(*out); err != nil {
		return err
	}
	for i, cp := range copies {
		name := fmt.Sprintf("%02d-to-cc.eml", i+1)
		if cp.Bcc != "" {
			name = fmt.Sprintf("%02d-bcc-%s.eml", i+1, cp.Bcc)
		}
		path := filepath.Join(*out, name)
		if err := atomicfile.WriteFunc(path, ".tmp-*", func(w *os.File) error { return c.WriteCopy(ctx, w, i) }); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\t%s\n", path, strings.Join(cp.Envelope.Recipients, ", "))
	}
	return nil
}

// writeWhole writes the output of write to w only once write has succeeded,
// through a temporary file in the home. A reader of w, such as a sendmail in
// a pipe, then never gets a message cut short by a late check.
func writeWhole(h *home, w io.Writer, write func(io.Writer) error) error {
	tmp, err := h.tempFile()
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	if err := write(tmp); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err = io.Copy(w, tmp)
	return err
}

// emptyFolder creates dir, or checks that it is empty, so that the copies
// written there are never mixed with those of an earlier run.
func emptyFolder(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("failed to create the --out folder: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("failed to read the --out folder: %w", err)
	case len(entries) > 0:
		return usagef("the --out folder %s is not empty: give a new or empty folder, so no old copy is mistaken for a new one", dir)
	}
	return nil
}
