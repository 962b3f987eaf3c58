package handlers

import (
	"io"
	"net"
	"syscall"
)

// rawWriter writes whole buffers to a connection's socket with
// writeNonblock, waiting for room the way net.Conn's Write does (up to the
// connection's write deadline), but without the scheduler's syscall
// bookkeeping (see readNonblock). A connection without a socket (TLS) is
// written through net.Conn. The SSE relay and the WebSocket bridge write
// their clients, and the bridge its upstreams, through one each.
type rawWriter struct {
	conn net.Conn
	rc   syscall.RawConn       // conn's socket; nil: write through conn
	fn   func(fd uintptr) bool // write, bound once
	buf  []byte                // bytes left to write, during writeAll
	err  error                 // write's failure, during writeAll
}

// init prepares w to write conn.
func (w *rawWriter) init(conn net.Conn) {
	w.conn = conn
	if w.rc = clientRawConn(conn); w.rc != nil {
		w.fn = w.write
	}
}

// writeAll writes all of b, and returns how much went out.
func (w *rawWriter) writeAll(b []byte) (int, error) {
	if w.rc == nil {
		return w.conn.Write(b)
	}
	w.buf = b
	err := w.rc.Write(w.fn)
	if err == nil {
		err = w.err
	}
	n := len(b) - len(w.buf)
	w.buf, w.err = nil, nil
	return n, err
}

// write is the syscall.RawConn.Write callback of writeAll: false waits for
// the socket to take more.
func (w *rawWriter) write(fd uintptr) bool {
	for len(w.buf) > 0 {
		n, err := writeNonblock(fd, w.buf)
		switch {
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			w.err = err
			return true
		case n == 0: // not for a socket; would loop forever
			w.err = io.ErrShortWrite
			return true
		}
		w.buf = w.buf[n:]
	}
	return true
}

// clientRawConn returns the connection's socket when it is one (a plain
// TCP connection, not TLS over it), or nil.
func clientRawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
