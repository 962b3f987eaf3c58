//go:build unix

package connlimit

import "syscall"

// OpenFileLimit is the process's soft limit on open files (RLIMIT_NOFILE),
// 0 when it cannot be read.
func OpenFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur) // int64 on some BSDs
}
