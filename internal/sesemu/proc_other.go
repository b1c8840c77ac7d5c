//go:build !linux

package sesemu

import "os/exec"

// stopWithParent does nothing where the kernel cannot kill a child with its
// parent; t.Cleanup still stops the emulator when the test ends normally.
func stopWithParent(cmd *exec.Cmd) {}
