package mailpit

import (
	"os/exec"
	"syscall"
)

// stopWithParent has the kernel kill mailpit when the test binary dies, so
// that a test killed before its cleanup leaves no server behind.
func stopWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
