package handlers

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueued returns the bytes c's socket holds that its peer has not yet
// acknowledged (SIOCOUTQ), or -1 when c is no socket (TLS) or the ioctl
// fails. A number that falls while nothing new is written is a receiver
// reading: frameWriter's proof of progress while its write is blocked.
func sendQueued(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	q := -1
	if err := rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			q = v
		}
	}); err != nil {
		return -1
	}
	return q
}
