package upstream

import (
	"net"
	"time"
)

// idleConn makes the deadlines set before sending a request and reading a
// response slide with the data: every read or write starts with its
// deadline renewed to idle ahead. A deadline is set once (now + timeout) before the
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
	check         idleCheck // is the idle connection clean (see idleChecker)
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

// Read renews an armed read deadline, then reads.
func (c *idleConn) Read(p []byte) (int, error) {
	if !c.read.IsZero() {
		c.read = c.renew(c.read, c.Conn.SetReadDeadline)
	}
	return c.Conn.Read(p)
}

// Write renews an armed write deadline, then writes.
func (c *idleConn) Write(p []byte) (int, error) {
	if !c.written.IsZero() {
		c.written = c.renew(c.written, c.Conn.SetWriteDeadline)
	}
	return c.Conn.Write(p)
}

// renew moves deadline to idle after now, so the operation about to start
// may wait that long. It leaves a deadline at least 7/8 of idle away alone,
// so a burst of small operations costs a clock read each, not a timer
// update each; a wait is thus bounded by between 7/8 of idle and idle.
// A failure to set resurfaces in the operation itself.
func (c *idleConn) renew(deadline time.Time, set func(time.Time) error) time.Time {
	now := time.Now()
	if deadline.Sub(now) >= c.idle-c.idle/8 {
		return deadline
	}
	deadline = now.Add(c.idle)
	_ = set(deadline)
	return deadline
}
