//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package handlers

import (
	"errors"
	"net"
	"syscall"
)

// peer checks whether a stream's client is still connected, where no
// hang-up watcher does (see hangups). It reads what is waiting on the
// non-blocking socket: 0 bytes means the client has closed its side, an
// error such as ECONNRESET that it is gone, and EAGAIN that it is there
// and quiet. Bytes the client sent are discarded: the stream owns the
// connection, which closes when the stream ends, so nothing the client
// sends after its request will be answered, and unread bytes would hide
// the end of file behind them.
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

// maxDiscardReads bounds the reads of one check, so a client streaming
// bytes at the gateway cannot keep a check running.
const maxDiscardReads = 8

// peek is run by Control with the descriptor.
func (p *peer) peek(fd uintptr) {
	var b [256]byte
	for range maxDiscardReads {
		n, _, err := syscall.Recvfrom(int(fd), b[:], 0)
		switch {
		case err == nil && n == 0: // orderly shutdown by the client
			p.left = true
			return
		case err == nil: // bytes sent after the request: discard, look again
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
			p.left = false
			return
		default: // ECONNRESET and the like
			p.left = true
			return
		}
	}
	p.left = false
}
