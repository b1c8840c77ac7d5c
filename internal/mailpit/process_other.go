//go:build !linux

package mailpit

import "os/exec"

// stopWithParent does nothing where the kernel cannot kill a child with its
// parent. t.Cleanup still stops mailpit when the test ends normally.
func stopWithParent(cmd *exec.Cmd) {}
