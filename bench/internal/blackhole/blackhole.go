// Package blackhole is a TCP proxy the chaos suite puts in front of an
// upstream so that it can make the upstream vanish without a trace: frozen,
// it stops accepting and stops moving bytes either way, so new connections
// sit in the kernel's accept queue (the handshake completes, nothing is
// answered) and open ones go silent, as when a host's network fails. It
// can also refuse (close its listener and reset every connection, as a
// dead host's kernel does) and listen again on the same address.
package blackhole

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Proxy relays connections from its address to a backend. The zero value
// is not usable; see Listen.
type Proxy struct {
	addr    string // its own address, fixed at the first Listen
	backend string

	mu      sync.Mutex
	ln      net.Listener // nil while refusing
	frozen  bool
	thawed  chan struct{} // closed when a freeze ends
	conns   map[net.Conn]struct{}
	stopped bool
	wg      sync.WaitGroup
}

// Listen starts a proxy on addr ("127.0.0.1:0" picks a port) in front of
// backend.
func Listen(addr, backend string) (*Proxy, error) {
	p := &Proxy{backend: backend, conns: map[net.Conn]struct{}{}, thawed: make(chan struct{})}
	close(p.thawed)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("blackhole proxy listening on %s: %w", addr, err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's address, the same across Refuse and Resume.
func (p *Proxy) Addr() string { return p.addr }

// serve accepts on ln until it closes.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Go(func() {
		for {
			p.waitThawed()
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				c.Close()
				continue
			}
			p.wg.Go(func() { p.relay(c) })
		}
	})
}

// Freeze stops accepting and stops every relay until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thawed = true, make(chan struct{})
	}
}

// Thaw ends a freeze: what waited in the accept queue and in the relays'
// buffers moves on.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thawed)
	}
}

// waitThawed blocks while the proxy is frozen.
func (p *Proxy) waitThawed() {
	p.mu.Lock()
	ch := p.thawed
	p.mu.Unlock()
	<-ch
}

// Refuse closes the listener, so connections are refused, and resets every
// open connection.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for c := range conns {
		reset(c)
	}
}

// Resume listens again on the proxy's address after Refuse.
func (p *Proxy) Resume() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("blackhole proxy listening again on %s: %w", p.addr, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serve(ln)
	return nil
}

// Close stops the proxy and every relay and waits for them.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.Thaw()
	p.Refuse()
	p.wg.Wait()
}

// track records c as open; false once the proxy is stopped or refusing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// relay connects front to the backend and copies both ways until either
// side ends; then it closes both. A backend that cannot be reached
// resets front.
func (p *Proxy) relay(front net.Conn) {
	defer p.untrack(front)
	back, err := net.Dial("tcp", p.backend)
	if err != nil {
		reset(front)
		return
	}
	if !p.track(back) {
		back.Close()
		front.Close()
		return
	}
	defer p.untrack(back)
	done := make(chan struct{}, 2)
	go func() { p.copy(back, front); done <- struct{}{} }()
	go func() { p.copy(front, back); done <- struct{}{} }()
	<-done
	front.Close()
	back.Close()
	<-done
}

// copy moves bytes from src to dst, holding still before each read and
// each write while the proxy is frozen.
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		p.waitThawed()
		n, err := src.Read(buf)
		if n > 0 {
			p.waitThawed()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				reset(dst)
			}
			return
		}
	}
}

// reset closes c with an RST rather than a FIN (SO_LINGER 0), as a kernel
// does for a connection whose process died with unread data.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
