package upstream

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// tcpPair returns the two ends of a loopback TCP connection, the client's
// wrapped as the ordinary client's dial wraps it.
func tcpPair(t testing.TB) (client *idleConn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); server.Close() })
	return &idleConn{Conn: c, idle: time.Second}, server
}

// waitState polls c until its idle state is want.
func waitState(t *testing.T, c idleChecker, want idleState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.idleState() != want {
		if time.Now().After(deadline) {
			t.Fatalf("idle state = %v, want %v", c.idleState(), want)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// The peek pins what the transport relies on: it never blocks on a quiet
// socket, it sees bytes without consuming them, and it sees the upstream's
// close.
func TestIdleCheckStates(t *testing.T) {
	c, srv := tcpPair(t)
	if s := c.idleState(); s != idleClean {
		t.Fatalf("quiet connection: state %v, want clean", s)
	}
	if _, err := io.WriteString(srv, "HTTP/1.1 200 OK\r\n"); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, idleBytes)
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("read after peek: %q %v, want every byte still there", buf[:n], err)
	}
	if s := c.idleState(); s != idleClean {
		t.Fatalf("after reading: state %v, want clean", s)
	}
	srv.Close()
	waitState(t, c, idleClosed)
	c.Close()
	if s := c.idleState(); s != idleClosed {
		t.Fatalf("closed descriptor: state %v, want closed", s)
	}
}

// A StreamConn is checked the same way; a connection without a descriptor
// (in memory) always counts as clean.
func TestIdleCheckStreamConnAndPipe(t *testing.T) {
	c, srv := tcpPair(t)
	sc, err := streamDial(func(string) (net.Conn, error) { return c.Conn, nil })("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(srv, "x"); err != nil {
		t.Fatal(err)
	}
	waitState(t, sc.(*StreamConn), idleBytes)

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if s := (&idleConn{Conn: a}).idleState(); s != idleClean {
		t.Fatalf("pipe: state %v, want clean", s)
	}
}

// BenchmarkIdleCheck is the cost the check adds to every request on a
// reused connection: one non-blocking peek.
func BenchmarkIdleCheck(b *testing.B) {
	c, _ := tcpPair(b)
	b.ReportAllocs()
	c.idleState() // the RawConn lookup, once per connection
	b.ResetTimer()
	for b.Loop() {
		if c.idleState() != idleClean {
			b.Fatal("not clean")
		}
	}
}

// BenchmarkClientReuse is one request on a reused loopback connection
// through an upstream's ordinary client, the idle check included: the
// figure BenchmarkIdleCheck is a part of.
func BenchmarkClientReuse(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()
	p, err := New(Options{Services: map[string][]string{"s": {"http://" + ln.Addr().String()}}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	hc := p.Service("s").Upstreams()[0].Client()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + ln.Addr().String() + "/")
	b.ReportAllocs()
	for b.Loop() {
		if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatal(err, resp.StatusCode())
		}
	}
}
