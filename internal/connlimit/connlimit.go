// Package connlimit bounds the client connections the gateway serves, in
// total (MAX_CONNS) and per remote IP address (MAX_CONNS_PER_IP), at the
// listener: a connection counts from Accept until Close.
//
// It exists because fasthttp's own limits do not fit the gateway. Its
// per-IP limit (Server.MaxConnsPerIP) wraps every connection in a type
// that hides the *net.TCPConn, so the SSE relay cannot watch the client
// socket for hang-ups and the WebSocket bridge cannot read it raw. Its
// total limit (Server.Concurrency) counts connections its workers serve,
// and a connection stops counting once a handler hijacks it, so SSE
// streams and WebSocket bridges, which live for hours, escape it.
//
// A Limiter counts hijacked connections for their whole life, and hands
// out each TCP connection as a *Conn that embeds the *net.TCPConn, so the
// socket stays reachable (syscall.Conn, deadlines, keep-alive settings).
package connlimit

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gateway/internal/apierror"
)

// refuseWriteTimeout bounds the write of a refusal, which runs in the
// accept loop: a client that does not read cannot hold the loop longer.
// The answer is a few hundred bytes to a fresh socket, so it fits the
// kernel's send buffer and the write returns at once in practice.
const refuseWriteTimeout = 50 * time.Millisecond

// Messages of the refusals, in the gateway's JSON error body.
const (
	msgPerIP = "too many connections from your address"
	msgTotal = "too many connections"
)

// Limiter counts the open connections of the listeners it wraps and
// refuses those over its limits. Its methods are safe for concurrent use.
type Limiter struct {
	total, perIP int

	mu   sync.Mutex
	open int
	byIP map[netip.Addr]int // open connections per address; no entry at zero

	refusedPerIP, refusedTotal atomic.Int64

	tooManyFromIP, tooMany []byte // the refusals, built once
}

// New returns a Limiter allowing total connections in all and perIP from
// any one IP address; 0 turns a limit off.
func New(total, perIP int) *Limiter {
	l := &Limiter{
		total:         max(total, 0),
		perIP:         max(perIP, 0),
		tooManyFromIP: refusal(429, "Too Many Requests", msgPerIP),
		tooMany:       refusal(503, "Service Unavailable", msgTotal),
	}
	if l.perIP > 0 {
		l.byIP = make(map[netip.Addr]int)
	}
	return l
}

// refusal is the whole HTTP response refusing a connection. No request
// was read, so the body's request id is empty.
func refusal(status int, reason, msg string) []byte {
	body := apierror.Body(msg, "")
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + reason + "\r\n" +
		"Connection: close\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	return append([]byte(head), body...)
}

// Stats are a Limiter's counts.
type Stats struct {
	Open         int   // connections accepted and not yet closed
	RefusedPerIP int64 // connections refused with 429 over the per-IP limit, since New
	RefusedTotal int64 // connections refused with 503 over the total limit, since New
}

// Stats returns the current counts.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	return Stats{Open: open, RefusedPerIP: l.refusedPerIP.Load(), RefusedTotal: l.refusedTotal.Load()}
}

// Listener returns ln with l's limits applied. Its Accept returns each TCP
// connection as a *Conn, counted until closed; a connection over a limit
// is answered 429 (per IP) or 503 (in total) and closed, and Accept waits
// for the next one, so a refusal is never an Accept error. Connections of
// other kinds (such as in-memory ones in tests) pass through as they are,
// uncounted: a wrapper would hide what they offer, as fasthttp's does, and
// the gateway serves TCP only.
func (l *Limiter) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, l: l}
}

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil
		}
		ip := remoteIP(tc)
		if answer := ln.l.acquire(ip); answer != nil {
			refuse(tc, answer)
			continue
		}
		return &Conn{TCPConn: tc, l: ln.l, ip: ip}, nil
	}
}

// remoteIP is the address c's client connects from, IPv4-mapped IPv6
// addresses unmapped, so that one client has one key however it arrives;
// the zero Addr when unknown.
func remoteIP(c *net.TCPConn) netip.Addr {
	a, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	return a.AddrPort().Addr().Unmap()
}

// acquire counts a connection from ip, or returns the answer refusing it.
// A connection from an unknown address (the zero ip) counts in the total
// only.
func (l *Limiter) acquire(ip netip.Addr) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	perIP := l.perIP > 0 && ip.IsValid()
	if perIP && l.byIP[ip] >= l.perIP {
		l.refusedPerIP.Add(1)
		return l.tooManyFromIP
	}
	if l.total > 0 && l.open >= l.total {
		l.refusedTotal.Add(1)
		return l.tooMany
	}
	l.open++
	if perIP {
		l.byIP[ip]++
	}
	return nil
}

// release uncounts a connection from ip.
func (l *Limiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP == 0 || !ip.IsValid() {
		return
	}
	if n := l.byIP[ip] - 1; n > 0 {
		l.byIP[ip] = n
	} else {
		delete(l.byIP, ip)
	}
}

// refuse writes answer to c, giving up after refuseWriteTimeout, and
// closes it. The client's request, if it sent one already, is not read:
// closing with it unread makes the kernel reset the connection, and a
// client whose kernel drops the answer on the reset sees only the reset,
// as with fasthttp's own refusals. Draining it would cost the accept loop
// a wait.
func refuse(c *net.TCPConn, answer []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	_, _ = c.Write(answer)
	_ = c.Close()
}

// Conn is an accepted TCP connection that a Limiter counts until its
// first Close. Everything but Close is the embedded *net.TCPConn's, so
// c.(syscall.Conn) and the like reach the socket.
type Conn struct {
	*net.TCPConn
	l      *Limiter
	ip     netip.Addr
	closed atomic.Bool
}

// Close closes the connection and, the first time only, uncounts it.
func (c *Conn) Close() error {
	err := c.TCPConn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
	return err
}
