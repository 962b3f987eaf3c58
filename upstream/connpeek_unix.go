//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package upstream

import (
	"errors"
	"syscall"
)

// peek looks at fd without consuming or waiting: recvfrom(2) of one byte
// with MSG_PEEK|MSG_DONTWAIT (see the Linux version for what each result
// means).
func (p *idleCheck) peek(fd uintptr) {
	var b [1]byte
	for {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			p.state = idleClean
		case err != nil, n == 0:
			p.state = idleClosed
		default:
			p.state = idleBytes
		}
		return
	}
}
