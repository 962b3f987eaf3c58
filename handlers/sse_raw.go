package handlers

import (
	"errors"
	"io"
	"syscall"
	"time"
)

// errNoRawConn is a raw body whose connection turned out to have no
// syscall.RawConn (upstream.RawBody.Raw rules that out).
var errNoRawConn = errors.New("sse: upstream connection has no raw socket")

// relayRaw is relay for a body read raw from the upstream socket (see
// upstream.RawBody): once the bytes fasthttp read ahead past the headers
// are relayed and its 4 KiB read buffer is let go, the stream waits in
// syscall.RawConn.Read, a few frames from its goroutine's top and holding
// no buffer; a relay buffer is taken from the pool only for the
// non-blocking read that finds bytes (as ws_frame.go's frameReader does).
// A chunked body's framing is removed in place (chunkDecoder) and the data
// framed again for the client, in one write.
func (st *sseStream) relayRaw() error {
	buf, n, err := st.readRaw()
	if buf == nil {
		return st.readErr(err)
	}
	defer st.h.bufs.Put(buf)
	if st.chunked {
		m, done, derr := st.dec.decode(buf.payload()[:n])
		n = m
		switch {
		case derr != nil:
			err = derr
		case done:
			err = io.EOF
		}
	}
	if n > 0 {
		st.midLine = buf.payload()[n-1] != '\n'
		st.lastWrite = time.Now()
		if werr := st.write(buf.frame(n, st.identity)); werr != nil {
			st.ended = endClientGone
			return werr
		}
	}
	return st.readErr(err)
}

// readRaw returns the upstream's next bytes in a pooled buffer (nil when
// there are none: err says why): the read-ahead bytes first, then the
// socket's. The end of the connection is the end of an identity body, and
// cuts a chunked one short.
func (st *sseStream) readRaw() (*relayBuffer, int, error) {
	if !st.drained {
		buf := st.h.bufs.Get().(*relayBuffer)
		if n := st.raw.ReadBuffered(buf.payload()); n > 0 {
			return buf, n, nil
		}
		st.h.bufs.Put(buf)
		st.drained = true
	}
	ok, err := st.conn.RawRead(st.readFn)
	buf, n, rerr := st.rbuf, st.rn, st.rerr
	st.rbuf, st.rn, st.rerr = nil, 0, nil
	switch {
	case !ok:
		return nil, 0, errNoRawConn
	case err != nil || rerr != nil:
		if buf != nil {
			st.h.bufs.Put(buf)
		}
		if err == nil {
			err = rerr
		}
		return nil, 0, err
	case buf == nil:
		return nil, 0, errNoRawConn
	case n == 0:
		st.h.bufs.Put(buf)
		if st.chunked {
			return nil, 0, io.ErrUnexpectedEOF
		}
		return nil, 0, io.EOF
	}
	return buf, n, nil
}

// rawRead is the syscall.RawConn read: one non-blocking read into a relay
// buffer taken just before and given back if the socket had nothing, so
// that the wait holds none.
func (st *sseStream) rawRead(fd uintptr) bool {
	buf := st.h.bufs.Get().(*relayBuffer)
	p := buf.payload()
	n, err := syscall.Read(int(fd), p)
	for err == syscall.EINTR {
		n, err = syscall.Read(int(fd), p)
	}
	switch {
	case err == syscall.EAGAIN:
		st.h.bufs.Put(buf)
		return false
	case err != nil:
		st.h.bufs.Put(buf)
		st.rerr = err
	default:
		st.rbuf, st.rn = buf, n
	}
	return true
}

// readErr is read's treatment of the error that ends a read: a stream the
// gateway ended reads as io.EOF, so the client gets a clean end of body;
// any other failure is the upstream's.
func (st *sseStream) readErr(err error) error {
	switch {
	case err == nil:
	case st.ended != endNone:
		err = io.EOF
	case err != io.EOF:
		st.upErr = err
	}
	return err
}
