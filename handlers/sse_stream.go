package handlers

import (
	"errors"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/upstream"
)

// heartbeatLine is the heartbeat: one SSE comment line, which clients
// ignore (WHATWG HTML §9.2.6). It has no blank line after it, so written
// between two lines of an event it does not end that event.
var heartbeatLine = []byte(":\n")

// errStreamStopped ends the upstream read of a stream that its tick
// decided to end (client gone, shutdown); the reason is in sseStream.ended.
var errStreamStopped = errors.New("sse: stream stopped by the gateway")

// endReason is why a stream ended, when the gateway ended it.
type endReason uint8

const (
	endNone       endReason = iota // still running, or ended by the upstream
	endClientGone                  // the client closed its connection, or a write to it failed
	endShutdown                    // the gateway is shutting down
)

// sseStream is one relayed event stream: the body stream of the client's
// response, read by the fasthttp server goroutine that writes that
// response. Every method runs on that goroutine; Tick runs inside the
// upstream read (see upstream.StreamConn), which is how a quiet stream
// writes heartbeats and notices its client leaving without a goroutine of
// its own.
type sseStream struct {
	h     *SSE
	lease upstream.Lease
	resp  *fasthttp.Response // the upstream's, owning body
	body  io.Reader
	conn  *upstream.StreamConn // nil: no ticks (not a StreamClient connection)
	peer  peer
	w     io.Writer // the client's chunk writer, during WriteTo

	ttfb      time.Duration
	lastWrite time.Time
	upErr     error // the upstream read error that ended the stream
	midLine   bool  // the last byte relayed was not a '\n'
	chunked   bool  // the upstream body is chunked (see relay)
	ended     endReason
	closed    bool
}

var (
	_ fasthttp.BodyWriterTo        = (*sseStream)(nil)
	_ fasthttp.ReadCloserWithError = (*sseStream)(nil)
	_ upstream.StreamWatcher       = (*sseStream)(nil)
)

// SupportsBodyWriteTo tells fasthttp to copy the stream with WriteTo, which
// writes and flushes every chunk as it comes.
func (st *sseStream) SupportsBodyWriteTo() bool { return true }

// WriteTo relays the upstream's bytes to w, the fasthttp server's chunked
// body writer, until either side ends. Each w.Write is one chunk, flushed
// to the client at once. It returns nil when the upstream ended the stream
// cleanly or the gateway ended it (the client gets a clean end of body),
// and the error otherwise (the server then drops the connection, so the
// client sees the stream cut short).
func (st *sseStream) WriteTo(w io.Writer) (int64, error) {
	st.w = w
	defer func() { st.w = nil }()
	var total int64
	for {
		n, err := st.relay(w)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// relay waits for the upstream's next bytes and writes them to w. A stream
// spends its life waiting, so it waits without a buffer where it can: on a
// chunked body (what every SSE server sends over HTTP/1.1) a zero-length
// Read returns once the next chunk's header has arrived, having parsed it,
// and only then is a relay buffer taken from the pool, for the one copy.
// Thousands of quiet streams thus hold no relay buffer between them
// (fasthttp v1.78 requestStream.read; the memory benchmark in
// bench/streams shows the difference).
func (st *sseStream) relay(w io.Writer) (int, error) {
	if st.chunked {
		if _, err := st.Read(nil); err != nil {
			return 0, err
		}
	}
	buf := st.h.bufs.Get().(*[relayBufferSize]byte)
	defer st.h.bufs.Put(buf)
	n, err := st.Read(buf[:])
	if n > 0 {
		if _, werr := w.Write(buf[:n]); werr != nil {
			st.ended = endClientGone
			return 0, werr
		}
	}
	return n, err
}

// Read reads the upstream's bytes. It is WriteTo's source, and the whole
// copy when fasthttp chooses to read instead. A stream the gateway ended
// reads as io.EOF, so the client gets a clean end of body.
func (st *sseStream) Read(p []byte) (int, error) {
	n, err := st.body.Read(p)
	if n > 0 {
		st.midLine = p[n-1] != '\n'
		st.lastWrite = time.Now()
	}
	switch {
	case err == nil:
	case st.ended != endNone:
		err = io.EOF
	case err != io.EOF:
		st.upErr = err
	}
	return n, err
}

// Tick runs each time the upstream has been quiet for one tick: it ends the
// stream when the gateway is shutting down or the client has gone, and
// writes a heartbeat once the stream has been quiet for the heartbeat
// interval. Heartbeats go only between lines, never into a line the
// upstream has begun.
func (st *sseStream) Tick() error {
	switch {
	case st.h.stopping.Load():
		st.ended = endShutdown
		return errStreamStopped
	case st.peer.gone():
		st.ended = endClientGone
		return errStreamStopped
	}
	hb := st.h.heartbeat
	if hb <= 0 || st.w == nil || st.midLine || time.Since(st.lastWrite) < hb-st.h.tick/2 {
		return nil
	}
	if _, err := st.w.Write(heartbeatLine); err != nil {
		st.ended = endClientGone
		return errStreamStopped
	}
	st.lastWrite = time.Now()
	return nil
}

// CloseWithError ends the stream once the server has written it (or
// dropped the response): the upstream connection is closed, or pooled when
// the upstream had ended the body cleanly, the lease ends with the time to
// the headers as its latency, and the stream stops counting. fasthttp calls
// it exactly once per response body; a second call does nothing.
func (st *sseStream) CloseWithError(error) error {
	if st.closed {
		return nil
	}
	st.closed = true
	if st.conn != nil {
		_ = st.conn.Unwatch() // before the connection may go back to the pool
	}
	_ = st.resp.CloseBodyStream()
	o := upstream.Outcome{Status: st.resp.StatusCode(), Err: st.upErr, Latency: st.ttfb}
	fasthttp.ReleaseResponse(st.resp)
	st.resp, st.body = nil, nil
	st.lease.Done(o)
	st.lease.Upstream().StreamClosed(upstream.SSE)
	return nil
}
