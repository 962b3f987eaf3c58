package handlers

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/internal/streams"
	"gateway/middleware"
	"gateway/upstream"
)

// errStreamStopped ends the upstream read of a stream that its tick
// decided to end (client gone, shutdown); the reason is in sseStream.ended.
var errStreamStopped = errors.New("sse: stream stopped by the gateway")

// endReason is why a stream ended, when the gateway ended it.
type endReason uint8

const (
	endNone       endReason = iota // still running, or ended by the upstream
	endClientGone                  // the client closed its connection, or a write to it failed
	endShutdown                    // the gateway is shutting down
	endMoved                       // its upstream was removed (STREAM_MAX_AGE_AFTER_REMOVAL_MS)
)

// sseStream is one relayed event stream, from the moment its upstream's
// headers are in. Its methods run on the goroutine serving it, but for
// wake and the gone flag, which the hang-up watcher and Shutdown use; Tick
// runs inside the upstream read (see upstream.StreamConn), which is how a
// quiet stream writes heartbeats and ends when told to without a second
// goroutine.
type sseStream struct {
	h       *SSE
	lease   upstream.Lease
	settled bool                  // the lease was settled at the headers: only Release it
	status  int                   // the upstream's
	body    io.Reader             // the upstream's body; closing it lets the connection go
	raw     upstream.RawBody      // non-nil: the body is read raw (see relayRaw)
	dec     chunkDecoder          // a raw chunked body's framing
	drained bool                  // the raw body's read-ahead bytes are all out
	readFn  func(fd uintptr) bool // rawRead, bound once
	rerr    error                 // what ended rawRead's RawConn.Read, if anything
	conn    *upstream.StreamConn  // nil: no ticks (not a StreamClient connection)
	client  net.Conn              // the client's connection, taken over from fasthttp
	cw      rawWriter             // writes the client
	ctx     *fasthttp.RequestCtx  // until the response head is written
	peer    peer                  // polled at each tick when no watcher has the client

	entry *streams.Entry // in SSE.reg
	drain atomic.Uint32  // a streams.Reason once the registry asked it to end

	id      uint64      // in SSE.streams
	hangups *hangups    // the watcher of the client's hang-up; nil: polled
	gone    atomic.Bool // set by the watcher: the client hung up
	// upWatched: the watcher also reports the upstream connection's end, so
	// rawRead may wait after a short read (see there).
	upWatched bool
	// upEnded: the watcher reported the upstream connection's end. Its wake
	// may be spent by a tick before the read that takes the end in, so
	// rawRead no longer waits after a short read.
	upEnded atomic.Bool

	tick          time.Duration // the upstream connection's quiet interval; 0: none
	ttfb          time.Duration
	lastWrite     time.Time
	writeDeadline time.Time // the client connection's, see write
	upErr         error     // the upstream read error that ended the stream
	midLine       bool      // the last byte relayed was not a '\n'
	chunked       bool      // the upstream body is chunked (see relay)
	detach        bool      // the server keeps hijacked connections (see begin)
	identity      bool      // the client is HTTP/1.0: no chunked framing
	clientFailed  bool      // a write to the client failed (see write)
	ended         endReason

	events eventCounter          // the upstream's events relayed so far
	report *middleware.StreamEnd // nil: the end is not reported
}

var _ upstream.StreamWatcher = (*sseStream)(nil)

// begin is the stream's fasthttp.HijackHandler: it writes the response
// head, then relays the stream. When the server keeps hijacked connections
// (as the WebSocket bridge needs), the relay runs in a goroutine of its
// own and begin returns at once, so that fasthttp lets go of the request
// context and the connection's read buffer for the stream's whole life;
// otherwise fasthttp would close the connection on return, and the relay
// runs in begin.
func (st *sseStream) begin(net.Conn) {
	err := st.write(st.ctx.Response.Header.Header())
	st.ctx = nil
	if err != nil {
		st.end(err)
		return
	}
	if st.detach {
		go st.run()
		return
	}
	st.run()
}

// run relays the body until either side ends it, then ends the stream.
//
// A raw relay is called from here directly, not through relay, whose frame
// is large: a stream parks with its goroutine's stack this deep, and once
// under a quarter of its stack is in use the garbage collector halves the
// stack, back to the 2 KiB minimum that relaying an event outgrows.
func (st *sseStream) run() {
	err := st.start()
	for err == nil {
		if st.raw != nil {
			err = st.relayRaw()
		} else {
			err = st.relay()
		}
	}
	st.end(err)
}

// start registers the stream and watches its upstream connection: with its
// client's hang-ups watched, it ticks only for heartbeats; otherwise it
// also polls its client at least every liveCheckInterval. A shutdown or
// hang-up that came before the watch is caught by one tick right after.
func (st *sseStream) start() error {
	st.h.register(st)
	if st.asked() {
		return io.EOF
	}
	if st.conn == nil {
		return nil
	}
	interval := st.h.heartbeat
	if st.hangups == nil {
		interval = tickInterval(st.h.heartbeat)
		st.peer = newPeer(st.client)
	}
	st.tick = interval
	if err := st.conn.Watch(interval, st); err != nil {
		return err
	}
	if st.Tick() != nil {
		return io.EOF // ended by the gateway: a clean end
	}
	return nil
}

// wake makes the stream tick now; any goroutine may call it.
func (st *sseStream) wake() {
	if st.conn != nil {
		_ = st.conn.Wake()
	}
}

// end finishes the stream that err ended. A clean end (io.EOF: the
// upstream's, or one the gateway chose) ends the body properly; an
// upstream failure just drops the connection, so the client sees the
// stream cut short. Then the upstream is let go and the client connection
// closed.
//
// A stream the gateway drained (shutdown, or its upstream removed) first
// gets a `retry:` field, so its client waits a jittered moment before it
// reconnects (see drainTail).
func (st *sseStream) end(err error) {
	why := st.endReason(err)
	if err == io.EOF && !st.clientFailed && st.ended != endClientGone {
		var tail []byte
		if st.ended == endShutdown || st.ended == endMoved {
			tail = st.drainTail(st.h.reg.ReconnectDelay())
		}
		if !st.identity {
			tail = append(tail, lastChunk...)
		}
		if len(tail) > 0 {
			_ = st.write(tail)
		}
	}
	st.h.unregister(st) // first: no wake may reach the upstream connection once it is pooled
	st.close()
	_ = st.client.Close()
	st.report.End(why, st.events.n)
	st.h.reg.Remove(st.entry)
}

// endReason is why the stream that err ended ended: the gateway's own
// reason when it ended it (ended), a client that took no more writes, or
// else the upstream's clean end of body (io.EOF) or its failure.
func (st *sseStream) endReason(err error) streams.EndReason {
	switch {
	case st.ended == endShutdown:
		return streams.EndShutdown
	case st.ended == endMoved:
		return streams.EndMoved
	case st.ended == endClientGone || st.clientFailed:
		return streams.EndClientLeft
	case err == io.EOF:
		return streams.EndUpstreamEnded
	}
	return streams.EndUpstreamFailed
}

// relay waits for the upstream's next bytes and writes them to the client
// as one chunk, in one write. A stream spends its life waiting, so it waits
// without a buffer: a body read raw from its socket (the usual case, see
// relayRaw) holds neither a relay buffer nor the upstream read buffer
// while quiet. Otherwise (TLS to the upstream), on a chunked body a
// zero-length read returns once the next chunk's header has arrived,
// having parsed it (net/http/httputil's chunked reader), and only then is
// a relay buffer taken from the pool, for the one copy; the connection's
// read buffer stays held. (run calls relayRaw itself.)
func (st *sseStream) relay() error {
	if st.chunked {
		if _, err := st.read(nil); err != nil {
			return err
		}
	}
	buf := st.h.bufs.Get().(*relayBuffer)
	defer st.h.bufs.Put(buf)
	n, err := st.read(buf.payload())
	if n > 0 {
		if werr := st.write(buf.frame(n, st.identity)); werr != nil {
			st.ended = endClientGone
			return werr
		}
	}
	return err
}

// read reads the upstream's bytes. A stream the gateway ended reads as
// io.EOF, so the client gets a clean end of body.
func (st *sseStream) read(p []byte) (int, error) {
	n, err := st.body.Read(p)
	if n > 0 {
		st.midLine = p[n-1] != '\n'
		st.events.scan(p[:n])
		st.lastWrite = time.Now()
	}
	return n, st.readErr(err)
}

// write writes b to the client, giving up after between a half and a
// whole clientWriteTimeout: the deadline moves only once half of it is
// spent, so a busy stream updates a timer every few seconds, not every
// write.
//
// After a failed write the client is taken for gone: later writes fail at
// once, so ending the stream does not wait a second timeout on a client
// that stopped reading, nor add a last chunk after a partial one.
func (st *sseStream) write(b []byte) error {
	if st.clientFailed {
		return errClientFailed
	}
	if now := time.Now(); st.writeDeadline.Sub(now) < clientWriteTimeout/2 {
		st.writeDeadline = now.Add(clientWriteTimeout)
		if err := st.client.SetWriteDeadline(st.writeDeadline); err != nil {
			st.clientFailed = true
			return err
		}
	}
	err := st.writeClient(b)
	if err != nil {
		st.clientFailed = true
	}
	return err
}

// writeClient writes all of b to the client, on its socket when it has
// one (rawWriter).
func (st *sseStream) writeClient(b []byte) error {
	_, err := st.cw.writeAll(b)
	return err
}

// errClientFailed is a write to a client whose earlier write failed.
var errClientFailed = errors.New("sse: an earlier write to the client failed")

// Tick runs each time the upstream has been quiet for one tick: it ends the
// stream when the gateway is shutting down or the client has gone, and
// writes a heartbeat once the stream has been quiet for the heartbeat
// interval. Heartbeats go only between lines, never into a line the
// upstream has begun.
func (st *sseStream) Tick() error {
	switch {
	case st.asked():
		return errStreamStopped
	case st.gone.Load(), st.hangups == nil && st.peer.gone():
		st.ended = endClientGone
		return errStreamStopped
	}
	hb := st.h.heartbeat
	if hb <= 0 || st.midLine || time.Since(st.lastWrite) < hb-st.tick/2 {
		return nil
	}
	beat := heartbeatChunk
	if st.identity {
		beat = heartbeatLine
	}
	if err := st.write([]byte(beat)); err != nil {
		st.ended = endClientGone
		return errStreamStopped
	}
	st.lastWrite = time.Now()
	return nil
}

// close ends the stream's hold on its upstream: the connection is closed,
// or pooled when the upstream had ended the body cleanly, the lease ends
// with the time to the headers as its latency, and the stream stops
// counting.
func (st *sseStream) close() {
	if st.conn != nil {
		_ = st.conn.Unwatch() // before the connection may go back to the pool
	}
	if c, ok := st.body.(io.Closer); ok {
		_ = c.Close()
	}
	o := upstream.Outcome{Status: st.status, Err: st.upErr, Latency: st.ttfb}
	st.body, st.raw = nil, nil
	if st.settled {
		st.lease.Release()
	} else {
		st.lease.Done(o)
	}
	st.lease.Upstream().StreamClosed(upstream.SSE)
}
