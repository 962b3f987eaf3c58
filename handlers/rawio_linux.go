package handlers

import (
	"syscall"
	"unsafe"
)

// readNonblock and writeNonblock read and write a stream's sockets, which
// are non-blocking: either call returns at once, EAGAIN instead of
// blocking. So they are made with RawSyscall, without the scheduler's
// entersyscall/exitsyscall, whose point is to hand the P on during a call
// that may block. Each entersyscall also wakes the runtime's sysmon thread
// if it sleeps because every P was idle, and a wake from a syscall resets
// its polling to every 20 µs (runtime/proc.go: sysmon,
// entersyscallWakeSysmon). Relaying thousands of events a second, with the
// Ps idle between them, kept sysmon awake and cycling: the bulk of the
// gateway's futex and nanosleep calls.
//
// They are recvfrom(2) and sendto(2) rather than read(2) and write(2), as
// nginx's ngx_unix_recv uses recv: the socket calls go straight to the
// socket, skipping the file layer a read or write goes through first
// (vfs_read/vfs_write, the position lock of fdget_pos, fsnotify), which is
// measurable at one call each way per event. sendto also passes
// MSG_NOSIGNAL: a client that is gone yields EPIPE without a SIGPIPE
// (which the runtime would ignore anyway). A descriptor that turns out not
// to be a socket is read or written as a file, with the scheduler's
// bookkeeping (fileIO): a file need not be non-blocking.
func readNonblock(fd uintptr, p []byte) (int, error) {
	n, err := rawIO(syscall.SYS_RECVFROM, fd, p, 0)
	if err == syscall.ENOTSOCK {
		return fileIO(syscall.Read, fd, p)
	}
	return n, err
}

// writeNonblock: see readNonblock.
func writeNonblock(fd uintptr, p []byte) (int, error) {
	n, err := rawIO(syscall.SYS_SENDTO, fd, p, syscall.MSG_NOSIGNAL)
	if err == syscall.ENOTSOCK {
		return fileIO(syscall.Write, fd, p)
	}
	return n, err
}

// rawIO makes the call trap (read, write, recvfrom or sendto, the last two
// with flags and no address) on fd with p, retrying when a signal
// interrupted it.
func rawIO(trap, fd uintptr, p []byte, flags uintptr) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	for {
		n, _, errno := syscall.RawSyscall6(trap, fd, uintptr(ptr), uintptr(len(p)), flags, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

// fileIO reads or writes (op) a descriptor that is not a socket through
// the syscall package, which tells the scheduler: unlike a non-blocking
// socket, a file or pipe may block.
func fileIO(op func(int, []byte) (int, error), fd uintptr, p []byte) (int, error) {
	for {
		n, err := op(int(fd), p)
		if err != syscall.EINTR {
			return max(n, 0), err
		}
	}
}
