package upstream

import (
	"net"
	"time"
)

// idleConn makes the deadlines set before sending a request and reading a
// response slide with the data: every read or write that moves bytes pushes
// its deadline idle ahead. A deadline is set once (now + timeout) before the
// request is written and before the response headers are read, and stays in
// force while a streamed body flows, so a 1 GiB upload or download slower
// than HTTP_PROXY_TIMEOUT_MS would be cut mid-body. With the slide, the
// timeout means what nginx's proxy_read_timeout and proxy_send_timeout mean:
// the longest silence between two operations, not the length of the
// transfer. A cleared deadline (zero time) stays cleared.
//
// An idleConn belongs to one HostClient connection, used by one goroutine
// at a time, so its fields need no lock.
type idleConn struct {
	net.Conn
	idle          time.Duration
	read, written time.Time // the deadlines in force; zero when none
}

// SetReadDeadline records t and passes it through.
func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.read = t
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline records t and passes it through.
func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.written = t
	return c.Conn.SetWriteDeadline(t)
}

// Read reads, then slides an armed read deadline when bytes came.
func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.read.IsZero() {
		c.read = c.slide(c.read, c.Conn.SetReadDeadline)
	}
	return n, err
}

// Write writes, then slides an armed write deadline when bytes went.
func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 && !c.written.IsZero() {
		c.written = c.slide(c.written, c.Conn.SetWriteDeadline)
	}
	return n, err
}

// slide moves deadline idle ahead of now, but only once half of the idle
// time is spent, so a stream of small operations costs a clock read each,
// not a timer update each. A failure to set resurfaces on the next call.
func (c *idleConn) slide(deadline time.Time, set func(time.Time) error) time.Time {
	now := time.Now()
	if deadline.Sub(now) >= c.idle/2 {
		return deadline
	}
	deadline = now.Add(c.idle)
	_ = set(deadline)
	return deadline
}
