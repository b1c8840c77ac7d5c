package keyring

import (
	"io/fs"
	"syscall"
)

// changeTimeAndInode returns the change time in nanoseconds and the inode
// number of the file info describes. The change time moves with chmod and
// chown, which the modification time does not show.
func changeTimeAndInode(info fs.FileInfo) (int64, uint64) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Nano(), st.Ino
	}
	return 0, 0
}
