package upstream

import (
	"net"
	"time"
)

// idleConn makes the read deadline fasthttp sets before reading a response
// slide with the data: every read that returns bytes moves it idle ahead.
// fasthttp sets one absolute deadline (now + ReadTimeout) before the
// response headers and leaves it in force while a streamed body is read, so
// a 1 GiB download slower than HTTP_PROXY_TIMEOUT_MS would be cut mid-body.
// With the slide, the timeout means what nginx's proxy_read_timeout means:
// the longest silence between two reads, not the length of the transfer.
// A deadline cleared by fasthttp (zero time) stays cleared.
//
// An idleConn belongs to one HostClient connection, used by one goroutine
// at a time, so its fields need no lock.
type idleConn struct {
	net.Conn
	idle     time.Duration
	deadline time.Time // the deadline in force; zero when none
}

// SetReadDeadline records t and passes it through.
func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	return c.Conn.SetReadDeadline(t)
}

// Read reads, then slides an armed deadline when bytes came. It moves the
// deadline only once half of the idle time is spent, so a stream of small
// reads costs a clock read each, not a timer update each.
func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.deadline.IsZero() {
		now := time.Now()
		if c.deadline.Sub(now) < c.idle/2 {
			c.deadline = now.Add(c.idle)
			_ = c.Conn.SetReadDeadline(c.deadline) // a failure here resurfaces on the next Read
		}
	}
	return n, err
}
