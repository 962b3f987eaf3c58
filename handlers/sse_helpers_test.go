package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gateway/config"
	"gateway/internal/gatewaytest"
	"gateway/upstream"
)

// checkLeaks fails the test if goroutines it started outlive it. Call it
// first, so that its check runs after every other cleanup (the gateway's
// shutdown, the upstream's close).
func checkLeaks(t *testing.T) {
	t.Helper()
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, current,
			// Exits on its own once its HostClient has no connection left.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
			// fasthttp's worker pool cleaner sleeps out its interval (10s)
			// after the server stops.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			// fasthttp's process-wide Date header refresher.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
	})
}

// sseUpstream is a loopback SSE server driven by its test: each string sent
// on events is written and flushed as is; closing end makes the handler
// return (the upstream ends the stream).
type sseUpstream struct {
	srv    *httptest.Server
	events chan string
	end    chan struct{}
	seen   chan *http.Request // each request, when its headers are written
	gone   chan time.Time     // when a handler saw its client (the gateway) leave
	delay  time.Duration      // before the response headers
	ctype  string
}

// newSSEUpstream starts an sseUpstream answering with Content-Type ctype.
func newSSEUpstream(t *testing.T, ctype string) *sseUpstream {
	t.Helper()
	u := &sseUpstream{
		events: make(chan string),
		end:    make(chan struct{}),
		seen:   make(chan *http.Request, 16),
		gone:   make(chan time.Time, 16),
		ctype:  ctype,
	}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		select {
		case <-u.end:
		default:
			close(u.end)
		}
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
	return u
}

func (u *sseUpstream) serve(w http.ResponseWriter, r *http.Request) {
	if u.delay > 0 {
		select {
		case <-time.After(u.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", u.ctype)
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	u.seen <- r
	for {
		select {
		case ev := <-u.events:
			_, _ = io.WriteString(w, ev)
			_ = http.NewResponseController(w).Flush()
		case <-r.Context().Done():
			u.gone <- time.Now()
			return
		case <-u.end:
			return
		}
	}
}

// send writes ev upstream and returns when the handler has taken it.
func (u *sseUpstream) send(t *testing.T, ev string) {
	t.Helper()
	select {
	case u.events <- ev:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream handler not there to send an event")
	}
}

// stampedEvent is an event whose data is the time it is written, in
// nanoseconds since the epoch.
func stampedEvent(id int) string {
	return fmt.Sprintf("id: %d\ndata: %d\n\n", id, time.Now().UnixNano())
}

// request waits for the next request to reach the upstream.
func (u *sseUpstream) request(t *testing.T) *http.Request {
	t.Helper()
	return gatewaytest.Receive(t, u.seen, 5*time.Second, "a request to reach the upstream")
}

// startGateway serves a gateway whose service "s" is up, with heartbeat
// as SSE_HEARTBEAT_MS, and adjust applied to its configuration.
func startGateway(t *testing.T, up string, heartbeat time.Duration, adjust ...func(*config.Config)) *gatewaytest.Gateway {
	t.Helper()
	cfg := gatewaytest.Config(map[string][]string{"s": {up}})
	cfg.SSEHeartbeat = heartbeat
	for _, f := range adjust {
		f(cfg)
	}
	return gatewaytest.Start(t, cfg)
}

// onlyUpstream returns the single upstream of service "s".
func onlyUpstream(gw *gatewaytest.Gateway) *upstream.Upstream {
	return gw.App.Pool().Service("s").Upstreams()[0]
}

// sseClient is a raw HTTP/1.1 client of one stream, so the test sees every
// byte and chunk as it arrives and can drop the connection at will.
type sseClient struct {
	conn   net.Conn
	br     *bufio.Reader
	status int
	header http.Header
	body   *bufio.Reader // the de-chunked body
}

// openStream sends method path with extra header lines ("Name: value") to
// the gateway and reads the response head.
func openStream(t *testing.T, gw *gatewaytest.Gateway, method, path string, header ...string) *sseClient {
	t.Helper()
	return openStreamProto(t, gw.Addr, "HTTP/1.1", method, path, header...)
}

// openStreamProto is openStream to addr, speaking proto.
func openStreamProto(t *testing.T, addr, proto, method, path string, header ...string) *sseClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := method + " " + path + " " + proto + "\r\nHost: " + addr + "\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a hung test, never reached when passing
	c := &sseClient{conn: conn, br: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response head: %v", err)
	}
	c.status, c.header = resp.StatusCode, resp.Header
	c.body = bufio.NewReader(resp.Body)
	return c
}

// line reads the next body line, without its "\n".
func (c *sseClient) line(t *testing.T) string {
	t.Helper()
	s, err := c.body.ReadString('\n')
	if err != nil {
		t.Fatalf("reading stream: %v (after %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

// event reads lines up to the blank line ending an event, skipping
// heartbeats, and returns the event's lines.
func (c *sseClient) event(t *testing.T) []string {
	t.Helper()
	var lines []string
	for {
		l := c.line(t)
		switch {
		case l == "" && len(lines) > 0:
			return lines
		case l == "" || strings.HasPrefix(l, ":"):
		default:
			lines = append(lines, l)
		}
	}
}

// stampDelay returns how long ago the stamped event's data was written.
func stampDelay(t *testing.T, lines []string) time.Duration {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "data: "); ok {
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("bad stamp %q", v)
			}
			return time.Since(time.Unix(0, ns))
		}
	}
	t.Fatalf("no data line in %q", lines)
	return 0
}

// ended waits for the body to end and returns the error that ended it:
// io.EOF for a clean end (last chunk), another error for a cut.
func (c *sseClient) ended(t *testing.T, within time.Duration) error {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(within))
	for {
		if _, err := c.body.ReadString('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("stream still open after %v", within)
			}
			return err
		}
	}
}

// shutdown shuts gw down within d and reports how long it took.
func shutdown(t *testing.T, gw *gatewaytest.Gateway, d time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if err := gw.App.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	return time.Since(start)
}
