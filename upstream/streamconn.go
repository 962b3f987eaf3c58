package upstream

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// StreamWatcher is told about the silences of a watched stream connection.
// Tick runs on the goroutine that is reading the connection, inside its
// Read, so it may use whatever that goroutine owns (such as the client's
// response writer) without locks. A non-nil error ends the Read with that
// error; nil goes back to waiting for the upstream.
type StreamWatcher interface {
	Tick() error
}

// StreamConn is a connection of an upstream's StreamClient. It exists
// because fasthttp sets one absolute read deadline on a connection before
// reading a response's headers and leaves it in force while the body is
// streamed (transport.RoundTrip in client.go, v1.78; the gateway's own
// transport, which the StreamClient uses, does the same): with a time-to-headers
// bound, a long stream would be cut at that bound. Watch lifts the deadline
// once the headers are in and, while watched, turns every quiet interval
// into a call of the watcher's Tick instead of an error, so a stream can
// send heartbeats and notice its client leaving without a goroutine of its
// own.
//
// Outside Watch it behaves exactly like the connection it wraps. It is used
// by one goroutine at a time (the HostClient hands a connection to one
// request); only Close may come from another.
type StreamConn struct {
	net.Conn
	raw      syscall.RawConn // Conn's, once RawRead has asked for it
	laddr    streamAddr
	interval time.Duration
	watcher  StreamWatcher
	check    idleCheck // is the idle connection clean (see idleChecker)
}

// streamAddr is a StreamConn's local address. fasthttp records a
// connection's LocalAddr in the Response it reads (Response.ParseNetConn);
// carrying the StreamConn in it is the one way back from a response to the
// connection under its body. See StreamConnOf.
type streamAddr struct {
	net.Addr
	conn *StreamConn
}

// streamDial wraps dial so that every connection is a *StreamConn.
func streamDial(dial fasthttp.DialFunc) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		c, err := dial(addr)
		if err != nil {
			return nil, err
		}
		sc := &StreamConn{Conn: c}
		sc.laddr = streamAddr{Addr: c.LocalAddr(), conn: sc}
		return sc, nil
	}
}

// StreamConnOf returns the connection resp was read from when it came from a
// StreamClient (also through TLS, whose LocalAddr is the wrapped one's), or
// nil.
func StreamConnOf(resp *fasthttp.Response) *StreamConn {
	if a, ok := resp.LocalAddr().(*streamAddr); ok {
		return a.conn
	}
	return nil
}

// LocalAddr returns the local address; its dynamic type carries c (see
// StreamConnOf) and prints as the wrapped connection's address.
func (c *StreamConn) LocalAddr() net.Addr { return &c.laddr }

// Watch switches c to stream mode: the read deadline of the request is
// dropped, and every interval during which a Read waits, w.Tick runs
// (interval 0: no periodic ticks, only those Wake asks for). Call it once
// the response headers are read, and Unwatch before the body stream is
// closed (which may hand c back to the pool).
func (c *StreamConn) Watch(interval time.Duration, w StreamWatcher) error {
	c.interval, c.watcher = interval, w
	return c.Conn.SetReadDeadline(c.nextDeadline())
}

// Unwatch ends stream mode and clears the read deadline.
func (c *StreamConn) Unwatch() error {
	c.watcher = nil
	return c.Conn.SetReadDeadline(time.Time{})
}

// Wake makes the watcher's Tick run at once, from within the Read waiting
// on c or the next one. Unlike the other methods it may be called from any
// goroutine, for instance by one that learns the stream's client has gone.
func (c *StreamConn) Wake() error { return c.Conn.SetReadDeadline(time.Now()) }

// nextDeadline is the read deadline of the next quiet interval.
func (c *StreamConn) nextDeadline() time.Time {
	if c.interval <= 0 {
		return time.Time{}
	}
	return time.Now().Add(c.interval)
}

// Read reads from the connection. While watched, the deadline expiring is
// never an error: the deadline moves one interval on, Tick runs and the
// read resumes, so the parsers above (bufio, chunked framing, TLS) never
// see a timeout in the middle of their state. The deadline moves before
// Tick runs, so a Wake racing with a tick is never lost: either Tick sees
// what the waker set before waking, or the wake expires the new deadline.
func (c *StreamConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if c.watcher == nil || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if n > 0 { // data, then the deadline: the next Read ticks
			return n, nil
		}
		if err := c.Conn.SetReadDeadline(c.nextDeadline()); err != nil {
			return 0, err
		}
		if err := c.watcher.Tick(); err != nil {
			return 0, err
		}
	}
}

// RawRead runs f on the connection's socket as syscall.RawConn.Read does
// (f returns false to wait for the socket to be readable and be called
// again), with Read's ticks while watched: each quiet interval, Tick runs
// and the wait resumes. It lets a reader wait holding no buffer and with a
// shallow stack. ok is false when the wrapped connection has no RawConn,
// and then f has not run.
func (c *StreamConn) RawRead(f func(fd uintptr) bool) (ok bool, err error) {
	if c.raw == nil {
		sc, isSys := c.Conn.(syscall.Conn)
		if !isSys {
			return false, nil
		}
		raw, err := sc.SyscallConn() // allocates: kept for the next call
		if err != nil {
			return false, nil
		}
		c.raw = raw
	}
	for {
		err := c.raw.Read(f)
		if c.watcher == nil || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return true, err
		}
		if err := c.Conn.SetReadDeadline(c.nextDeadline()); err != nil {
			return true, err
		}
		if err := c.watcher.Tick(); err != nil {
			return true, err
		}
	}
}
