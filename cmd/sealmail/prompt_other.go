//go:build !unix

package main

import (
	"errors"
	"os"
)

// disableEcho fails where sealmail has no termios, which is everywhere but
// Unix. There openTerminal finds no /dev/tty, so no prompt gets this far.
func disableEcho(tty *os.File) (restore func(), err error) {
	return nil, errors.ErrUnsupported
}
