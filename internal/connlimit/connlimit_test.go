package connlimit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestLimiterCounts(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("2001:db8::1")
	type step struct {
		ip      netip.Addr
		release bool   // release ip instead of acquiring
		want    string // acquire's answer: "ok", "429" or "503"
	}
	ok := func(ip netip.Addr) step { return step{ip: ip, want: "ok"} }
	refused := func(ip netip.Addr, status string) step { return step{ip: ip, want: status} }
	rel := func(ip netip.Addr) step { return step{ip: ip, release: true} }
	tests := []struct {
		name         string
		total, perIP int
		steps        []step
		open         int
		perIPRefused int64
		totalRefused int64
	}{
		{"no limits", 0, 0, []step{ok(a), ok(a), ok(a), ok(b)}, 4, 0, 0},
		{"per ip", 0, 2, []step{ok(a), ok(a), refused(a, "429"), ok(b), ok(b), refused(b, "429")}, 4, 2, 0},
		{"per ip released", 0, 1, []step{ok(a), refused(a, "429"), rel(a), ok(a)}, 1, 1, 0},
		{"total", 2, 0, []step{ok(a), ok(b), refused(a, "503"), refused(b, "503")}, 2, 0, 2},
		{"total released", 2, 0, []step{ok(a), ok(b), rel(a), ok(b)}, 2, 0, 0},
		{"per ip checked first", 2, 1, []step{ok(a), ok(b), refused(a, "429"), refused(netip.MustParseAddr("10.0.0.2"), "503")}, 2, 1, 1},
		{"unknown address counts in total only", 2, 1, []step{ok(netip.Addr{}), ok(netip.Addr{}), refused(netip.Addr{}, "503")}, 2, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.total, tt.perIP)
			for i, s := range tt.steps {
				if s.release {
					l.release(s.ip)
					continue
				}
				got := "ok"
				switch answer := l.acquire(s.ip); {
				case answer == nil:
				case strings.HasPrefix(string(answer), "HTTP/1.1 429 "):
					got = "429"
				case strings.HasPrefix(string(answer), "HTTP/1.1 503 "):
					got = "503"
				default:
					t.Fatalf("step %d: unexpected answer %q", i, answer)
				}
				if got != s.want {
					t.Fatalf("step %d (%v): %s, want %s", i, s.ip, got, s.want)
				}
			}
			st := l.Stats()
			if st.Open != tt.open || st.RefusedPerIP != tt.perIPRefused || st.RefusedTotal != tt.totalRefused {
				t.Errorf("stats %+v, want open %d, refused per IP %d, in total %d", st, tt.open, tt.perIPRefused, tt.totalRefused)
			}
		})
	}
}

func TestLimiterForgetsAddressesAtZero(t *testing.T) {
	l := New(0, 3)
	a := netip.MustParseAddr("10.0.0.1")
	for range 3 {
		if l.acquire(a) != nil {
			t.Fatal("refused under the limit")
		}
	}
	for range 3 {
		l.release(a)
	}
	if n := len(l.byIP); n != 0 {
		t.Errorf("%d map entries after every connection closed, want 0", n)
	}
	if l.Stats().Open != 0 {
		t.Errorf("open = %d, want 0", l.Stats().Open)
	}
}

// TestRefusalsAreHTTP checks that each refusal is one well-formed HTTP
// response with the gateway's JSON error body.
func TestRefusalsAreHTTP(t *testing.T) {
	l := New(1, 1)
	for _, tt := range []struct {
		answer []byte
		status int
		msg    string
	}{{l.tooManyFromIP, 429, msgPerIP}, {l.tooMany, 503, msgTotal}} {
		br := bufio.NewReader(strings.NewReader(string(tt.answer)))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"error":"` + tt.msg + `","requestId":""}`
		if resp.StatusCode != tt.status || string(body) != want || !resp.Close ||
			resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || br.Buffered() != 0 {
			t.Errorf("%d %q close=%v type=%q trailing=%d; want %d %q", resp.StatusCode, body, resp.Close,
				resp.Header.Get("Content-Type"), br.Buffered(), tt.status, want)
		}
	}
}

// accepted is what one Accept returned.
type accepted struct {
	c   net.Conn
	err error
}

// listen serves l's listener on loopback; each Accept's result arrives on
// the channel.
func listen(t *testing.T, l *Limiter) (string, <-chan accepted) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := l.Listener(ln)
	t.Cleanup(func() { lln.Close() })
	out := make(chan accepted, 16)
	go func() {
		for {
			c, err := lln.Accept()
			out <- accepted{c, err}
			if err != nil {
				return
			}
		}
	}()
	return ln.Addr().String(), out
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func next(t *testing.T, acc <-chan accepted) net.Conn {
	t.Helper()
	select {
	case a := <-acc:
		if a.err != nil {
			t.Fatalf("Accept: %v", a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		return a.c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// refusedWith reads what the server sent c until it closed c, and checks
// that it is a refusal with status.
func refusedWith(t *testing.T, c net.Conn, status int) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // bounds a hung test
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the refusal: %v (after %q)", err, b)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
	if err != nil {
		t.Fatalf("refusal %q: %v", b, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("refused with %d, want %d", resp.StatusCode, status)
	}
}

func TestListenerRefusesAndReleases(t *testing.T) {
	for _, tt := range []struct {
		name         string
		total, perIP int
		status       int
	}{
		{"per ip", 0, 2, 429},
		{"total", 2, 0, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.total, tt.perIP)
			addr, acc := listen(t, l)
			dial(t, addr)
			first := next(t, acc)
			dial(t, addr)
			next(t, acc)

			refusedWith(t, dial(t, addr), tt.status)
			if s := l.Stats(); s.Open != 2 || s.RefusedPerIP+s.RefusedTotal != 1 {
				t.Fatalf("stats %+v, want 2 open and 1 refused", s)
			}
			select {
			case a := <-acc:
				t.Fatalf("Accept returned %v, %v for a refused connection", a.c, a.err)
			default:
			}

			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if err := first.Close(); err == nil {
				t.Error("second Close reported no error")
			}
			if s := l.Stats(); s.Open != 1 {
				t.Fatalf("open = %d after one of two closed (twice), want 1", s.Open)
			}
			dial(t, addr)
			next(t, acc)
			if s := l.Stats(); s.Open != 2 {
				t.Fatalf("open = %d, want 2", s.Open)
			}
		})
	}
}

// TestRefusalsDoNotHoldAccept checks that clients that send a request and
// never read their refusal do not hold the accept loop: every one of them
// is refused in turn.
func TestRefusalsDoNotHoldAccept(t *testing.T) {
	l := New(0, 1)
	addr, acc := listen(t, l)
	dial(t, addr)
	next(t, acc)
	for range 20 {
		c := dial(t, addr)
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	gate := time.Now().Add(5 * time.Second)
	for l.Stats().RefusedPerIP < 20 {
		if time.Now().After(gate) {
			t.Fatalf("%d of 20 refused", l.Stats().RefusedPerIP)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// TestConnKeepsTheSocket checks that the socket stays reachable where the
// gateway's handlers look for it: on the accepted connection (the SSE
// relay's ctx.Conn()) and under fasthttp's hijacked connection (the
// WebSocket bridge's UnsafeConn), with fasthttp's keep-alive setting
// applied through it.
func TestConnKeepsTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(10, 10)
	type found struct{ ctxConn, unsafeConn bool }
	got := make(chan found, 1)
	srv := &fasthttp.Server{
		TCPKeepalive: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			_, ctxOK := ctx.Conn().(syscall.Conn)
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) {
				uc, ok := c.(interface{ UnsafeConn() net.Conn })
				f := found{ctxConn: ctxOK}
				if ok {
					f.unsafeConn = rawConn(uc.UnsafeConn())
				}
				got <- f
			})
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l.Listener(ln)) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	c := dial(t, ln.Addr().String())
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-got:
		if !f.ctxConn || !f.unsafeConn {
			t.Errorf("socket reachable: via ctx.Conn() %v, via UnsafeConn() %v; want both", f.ctxConn, f.unsafeConn)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not run")
	}
	// The hijack handler returned, so fasthttp closed the connection.
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("open = %d after the hijacked connection closed", l.Stats().Open)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// rawConn reports whether c's descriptor can be reached, as the handlers
// reach it.
func rawConn(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return false
	}
	return fd >= 0
}

func TestMappedAddressesAreUnmapped(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener: %v", err)
	}
	l := New(0, 1)
	lln := l.Listener(ln)
	t.Cleanup(func() { lln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Skipf("dual-stack listener not reachable over IPv4: %v", err)
	}
	defer c.Close()
	sc, err := lln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if ip := sc.(*Conn).ip; ip != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("key %v, want 127.0.0.1", ip)
	}
}

func TestOtherConnsPassThrough(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Skipf("no unix sockets: %v", err)
	}
	l := New(1, 1)
	lln := l.Listener(ln)
	t.Cleanup(func() { lln.Close() })
	for range 2 {
		c, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc, err := lln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if _, ok := sc.(*net.UnixConn); !ok {
			t.Fatalf("accepted %T, want *net.UnixConn", sc)
		}
	}
	if s := l.Stats(); s != (Stats{}) {
		t.Errorf("stats %+v, want none counted", s)
	}
	lln.Close()
	if _, err := lln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
