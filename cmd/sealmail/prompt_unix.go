//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// disableEcho turns off the echo of tty, as term.ReadPassword does, and
// returns the function that restores the settings it found.
func disableEcho(tty *os.File) (restore func(), err error) {
	conn, err := tty.SyscallConn()
	if err != nil {
		return nil, err
	}
	var saved *unix.Termios
	controlErr := conn.Control(func(fd uintptr) {
		saved, err = unix.IoctlGetTermios(int(fd), ioctlGetTermios)
		if err != nil {
			return
		}
		quiet := *saved
		quiet.Lflag &^= unix.ECHO
		// Line editing and the signal keys stay on, so Ctrl-C still
		// sends SIGINT.
		quiet.Lflag |= unix.ICANON | unix.ISIG
		quiet.Iflag |= unix.ICRNL
		err = unix.IoctlSetTermios(int(fd), ioctlSetTermios, &quiet)
	})
	if controlErr != nil {
		return nil, controlErr
	}
	if err != nil {
		return nil, err
	}

	return func() {
		conn.Control(func(fd uintptr) {
			unix.IoctlSetTermios(int(fd), ioctlSetTermios, saved)
		})
	}, nil
}
