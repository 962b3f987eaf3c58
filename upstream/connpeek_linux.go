package upstream

import (
	"syscall"
	"unsafe"
)

// peek looks at fd without consuming or waiting: recv(2) of one byte with
// MSG_PEEK|MSG_DONTWAIT. It returns at once, so it is made with
// RawSyscall6, skipping the scheduler's entersyscall/exitsyscall (see
// readNonblock in the handlers package for why that matters at a call per
// request). One byte read means bytes are waiting, 0 with no error the
// upstream's orderly shutdown, EAGAIN a clean idle connection, anything
// else (ECONNRESET) a dead one.
func (p *idleCheck) peek(fd uintptr) {
	var b [1]byte
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		p.state = peekState(int(n), errno)
		return
	}
}

// peekState maps a peek's result to the connection's state.
func peekState(n int, errno syscall.Errno) idleState {
	switch {
	case errno == syscall.EAGAIN:
		return idleClean
	case errno != 0, n == 0:
		return idleClosed
	}
	return idleBytes
}
