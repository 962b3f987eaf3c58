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
//
// The relaying itself happens inside the RawConn.Read (rawRead), which
// returns only when the stream ends, ticks, or fills a whole buffer: see
// rawRead for why.
func (st *sseStream) relayRaw() error {
	if !st.drained {
		return st.relayBuffered()
	}
	ok, err := st.conn.RawRead(st.readFn)
	rerr := st.rerr
	st.rerr = nil
	switch {
	case !ok:
		return errNoRawConn
	case err != nil:
		return st.readErr(err)
	}
	return rerr
}

// relayBuffered relays the bytes fasthttp read ahead past the headers, one
// buffer at a time; once they are all out, the body's read buffer is let
// go and the stream reads the socket.
func (st *sseStream) relayBuffered() error {
	buf := st.h.bufs.Get().(*relayBuffer)
	if n := st.raw.ReadBuffered(buf.payload()); n > 0 {
		return st.relayChunk(buf, n)
	}
	st.h.bufs.Put(buf)
	st.drained = true
	return nil
}

// relayChunk writes the n upstream bytes read into buf to the client as one
// chunk, the body's framing removed, and gives buf back to the pool. The
// error ends the stream: the client's, or the upstream body's (io.EOF at a
// clean end).
func (st *sseStream) relayChunk(buf *relayBuffer, n int) error {
	var err error
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
		st.events.scan(buf.payload()[:n])
		st.lastWrite = time.Now()
		if werr := st.write(buf.frame(n, st.identity)); werr != nil {
			st.h.bufs.Put(buf)
			st.ended = endClientGone
			return werr
		}
	}
	st.h.bufs.Put(buf)
	return st.readErr(err)
}

// rawRead is the syscall.RawConn.Read callback: it reads the socket,
// non-blocking, and relays what it finds (relayChunk), taking a relay
// buffer from the pool just before each read and giving it back after, so
// that the wait holds none. It returns true to end the RawConn.Read, with
// the error that ends the stream in st.rerr, or with none after a read that
// filled the buffer.
//
// After a read that returned fewer bytes than asked, it returns false at
// once: the socket was drained, so the runtime may park the goroutine
// until the socket's next edge without a read that would only find EAGAIN.
// That read was half of the stream's read syscalls, one per event. nginx
// does the same (ngx_unix_recv, src/os/unix/ngx_recv.c: with epoll and
// EPOLLRDHUP, a recv that returns less than the buffer's size clears
// rev->ready unless the event reported the peer's end, pending_eof).
//
// That end is the one thing a short read can hide: the read that returns
// the last bytes may also consume the FIN behind them (or the reset's
// error may be pending), whose edge was spent on that read, so no further
// edge comes and only another read would see it. Go's poller does not pass
// EPOLLRDHUP on, so the stream's upstream connection is registered with
// the hang-up watcher (upWatched), whose event wakes the stream and marks
// it (upEnded), after which every read returns so that the next reads
// again; without that registration the callback always returns, and the
// next RawConn.Read reads once more first, as before.
//
// No data wake-up is lost, because the relay stays inside one
// RawConn.Read: internal/poll resets the descriptor's
// readiness (runtime_pollReset) only when a RawConn.Read begins, before
// the first call of this callback, which always reads. Between calls the
// runtime's pollDesc keeps any edge the netpoller saw since as ready, and
// Go's epoll registration is edge-triggered for every new segment
// (EPOLLET; Linux reports an edge on each sk_data_ready), so bytes that
// arrive during or after the short read make waitRead return at once. A
// fresh RawConn.Read, by contrast, would clear such an edge: this is why
// the callback does not return after relaying a short read.
//
// After a read that filled the buffer it does return true, though more
// bytes may be waiting: the next RawConn.Read reads them at once, and its
// start checks the read deadline, so a stream that never runs dry still
// ticks (a Wake still reaches it).
func (st *sseStream) rawRead(fd uintptr) bool {
	buf := st.h.bufs.Get().(*relayBuffer)
	p := buf.payload()
	n, err := readNonblock(fd, p)
	switch {
	case err == syscall.EAGAIN:
		st.h.bufs.Put(buf)
		return false
	case err != nil:
		st.h.bufs.Put(buf)
		st.rerr = st.readErr(err)
		return true
	case n == 0:
		st.h.bufs.Put(buf)
		st.rerr = st.readErr(st.connEnd())
		return true
	}
	if err := st.relayChunk(buf, n); err != nil {
		st.rerr = err
		return true
	}
	return n == len(p) || !st.upWatched || st.upEnded.Load()
}

// connEnd is what the end of the upstream connection means for the body:
// the end of an identity body, a chunked one cut short.
func (st *sseStream) connEnd() error {
	if st.chunked {
		return io.ErrUnexpectedEOF
	}
	return io.EOF
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
