//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package handlers

import (
	"errors"
	"net"
	"syscall"
)

// peer checks whether a stream's client is still connected, without
// reading from its connection: a peek at the socket (recv with MSG_PEEK on
// the non-blocking descriptor) returns 0 bytes once the client has closed
// it, or ECONNRESET, and EAGAIN while it is open and quiet. A client that
// sends something (a pipelined request) counts as present.
//
// The zero peer (a connection without a descriptor, such as an in-memory
// one in tests) never reports the client gone; the stream then notices at
// its next write.
type peer struct {
	rc    syscall.RawConn
	check func(fd uintptr) // bound once: Control takes a func, and a method value per call would allocate
	left  bool
}

// newPeer returns the checker of c's remote end.
func newPeer(c net.Conn) peer {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return peer{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peer{}
	}
	return peer{rc: rc}
}

// gone reports whether the client has closed its connection or reset it.
func (p *peer) gone() bool {
	if p.rc == nil {
		return false
	}
	if p.check == nil {
		p.check = p.peek
	}
	if err := p.rc.Control(p.check); err != nil {
		return true // the descriptor is closed
	}
	return p.left
}

// peek is run by Control with the descriptor.
func (p *peer) peek(fd uintptr) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	switch {
	case err == nil:
		p.left = n == 0 // 0 bytes: orderly shutdown by the client
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		p.left = false
	default:
		p.left = true // ECONNRESET and the like
	}
}
