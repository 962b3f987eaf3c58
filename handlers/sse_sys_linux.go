package handlers

import (
	"syscall"
	"unsafe"
)

// readNonblock and writeNonblock are read(2) and write(2) on a stream's
// sockets, which are non-blocking: either call returns at once, EAGAIN
// instead of blocking. So they are made with RawSyscall, without the
// scheduler's entersyscall/exitsyscall, whose point is to hand the P on
// during a call that may block. Each entersyscall also wakes the runtime's
// sysmon thread if it sleeps because every P was idle, and a wake from a
// syscall resets its polling to every 20 µs (runtime/proc.go: sysmon,
// entersyscallWakeSysmon). Relaying thousands of events a second, with the
// Ps idle between them, kept sysmon awake and cycling: the bulk of the
// gateway's futex and nanosleep calls.
func readNonblock(fd uintptr, p []byte) (int, error) {
	return rawIO(syscall.SYS_READ, fd, p)
}

// writeNonblock: see readNonblock.
func writeNonblock(fd uintptr, p []byte) (int, error) {
	return rawIO(syscall.SYS_WRITE, fd, p)
}

// rawIO makes the read or write call trap on fd with p, retrying when a
// signal interrupted it.
func rawIO(trap, fd uintptr, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	for {
		n, _, errno := syscall.RawSyscall(trap, fd, uintptr(ptr), uintptr(len(p)))
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}
