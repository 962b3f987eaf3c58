package upstream

import (
	"bufio"
	"net"
	"sync/atomic"
	"syscall"
)

// A pooled upstream connection must start every exchange clean: any byte
// already waiting on it when the gateway is about to send a request, or
// left in the read buffer when a response ends, is not the answer to the
// next request. An upstream that sends a body after a HEAD, 204 or 304
// answer (RFC 9110 §6.4.1, §9.3.2), or more than its Content-Length
// (RFC 9112 §6.3), would otherwise have those bytes read as the next
// response on that connection, which belongs to another client. nginx
// (ngx_http_upstream_process_header's "upstream sent more data than
// specified") and HAProxy likewise never reuse such a connection; the
// gateway closes it and counts why.

// DiscardReason says why a connection was closed instead of reused.
type DiscardReason int

// The reasons, in the order of ConnDiscards' fields.
const (
	// DiscardUnreadBytes: bytes past the end of a response were already
	// in the connection's read buffer when the response ended.
	DiscardUnreadBytes DiscardReason = iota
	// DiscardIdleBytes: bytes were waiting on an idle pooled connection
	// when it was taken for a request; nothing was asked for them.
	DiscardIdleBytes
	// DiscardIdleClosed: the upstream had closed or reset an idle pooled
	// connection; sending on it would have failed the request.
	DiscardIdleClosed
	numDiscardReasons
)

// String returns the reason's metric label.
func (r DiscardReason) String() string {
	switch r {
	case DiscardUnreadBytes:
		return "unread_bytes"
	case DiscardIdleBytes:
		return "idle_bytes"
	case DiscardIdleClosed:
		return "idle_closed"
	}
	return "unknown"
}

// ConnDiscards counts an upstream's connections closed instead of reused,
// by reason; see /admin/stats and gateway_upstream_conns_discarded_total.
type ConnDiscards struct {
	UnreadBytes int64 `json:"unreadBytes"`
	IdleBytes   int64 `json:"idleBytes"`
	IdleClosed  int64 `json:"idleClosed"`
}

// discardCounters are an upstream's ConnDiscards as atomics, written by its
// transports. Not to be copied.
type discardCounters [numDiscardReasons]atomic.Int64

// count records one discard; a nil receiver (a transport built without
// counters, as in tests) counts nothing.
func (d *discardCounters) count(r DiscardReason) {
	if d != nil {
		d[r].Add(1)
	}
}

func (d *discardCounters) read() ConnDiscards {
	return ConnDiscards{
		UnreadBytes: d[DiscardUnreadBytes].Load(),
		IdleBytes:   d[DiscardIdleBytes].Load(),
		IdleClosed:  d[DiscardIdleClosed].Load(),
	}
}

// unreadBytes reports whether br holds bytes past the end of the response
// just read: the reader's buffered count, free to read.
func unreadBytes(br *bufio.Reader) bool { return br.Buffered() > 0 }

// idleState is what a look at an idle connection's socket found.
type idleState int

const (
	idleClean  idleState = iota // nothing to read: the connection may be used
	idleBytes                   // bytes are waiting
	idleClosed                  // the upstream closed or reset it, or the descriptor is gone
)

// idleChecker is implemented by the gateway's upstream connections
// (idleConn, StreamConn): it looks, without blocking and without reading
// anything, at whether the connection is clean. A TLS connection is not
// one (the socket carries TLS records, and a session ticket or a
// close_notify is not a stray answer), so only the read buffer is checked
// there.
type idleChecker interface{ idleState() idleState }

// idleCheck is the idle-socket check of one connection: the connection's
// RawConn and the bound peek function, obtained once (each allocates) and
// kept for the connection's life. It is used by the goroutine that holds
// the connection, one at a time.
type idleCheck struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) // p.peek, bound once: a method value per call would allocate
	state idleState
	ready bool // rc and fn were looked up (rc may be nil: no descriptor)
}

// check returns the state of c's socket. A connection without a
// descriptor (an in-memory one in tests) is always clean.
func (p *idleCheck) check(c net.Conn) idleState {
	if !p.ready {
		p.ready = true
		if sc, ok := c.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				p.rc, p.fn = rc, p.peek
			}
		}
	}
	if p.rc == nil {
		return idleClean
	}
	if err := p.rc.Control(p.fn); err != nil {
		return idleClosed // the descriptor is closed
	}
	return p.state
}

// idleState checks the connection's socket; see idleChecker.
func (c *idleConn) idleState() idleState { return c.check.check(c.Conn) }

// idleState checks the connection's socket; see idleChecker.
func (c *StreamConn) idleState() idleState { return c.check.check(c.Conn) }

var (
	_ idleChecker = (*idleConn)(nil)
	_ idleChecker = (*StreamConn)(nil)
)
