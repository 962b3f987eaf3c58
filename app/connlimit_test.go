package app_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

// quietSSE is an SSE upstream whose streams send their headers and then
// nothing, until the gateway leaves them.
type quietSSE struct {
	*httptest.Server
	opened chan struct{}  // a stream's headers were sent
	gone   chan time.Time // when a stream saw the gateway's connection close
}

func newQuietSSE(t *testing.T) *quietSSE {
	t.Helper()
	u := &quietSSE{opened: make(chan struct{}, 16), gone: make(chan time.Time, 16)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		u.opened <- struct{}{}
		<-r.Context().Done()
		u.gone <- time.Now()
	}))
	t.Cleanup(func() {
		u.CloseClientConnections()
		u.Close()
	})
	return u
}

// waitOpened waits for a stream to reach the upstream.
func (u *quietSSE) waitOpened(t *testing.T) {
	t.Helper()
	gatewaytest.Receive(t, u.opened, 5*time.Second, "a stream to reach the upstream")
}

// limitedGateway serves service "s" on up with the given MAX_CONNS_PER_IP
// and MAX_CONNS, SSE heartbeats off (a quiet stream writes nothing), and
// returns once the connection of gatewaytest's readiness probe is closed.
func limitedGateway(t *testing.T, up string, perIP, total int) *gatewaytest.Gateway {
	t.Helper()
	cfg := gatewaytest.Config(map[string][]string{"s": {up}})
	cfg.SSEHeartbeat = 0
	cfg.MaxConnsPerIP, cfg.MaxConns = perIP, total
	gw := gatewaytest.Start(t, cfg)
	waitOpenConns(t, gw, 0)
	return gw
}

func waitOpenConns(t *testing.T, gw *gatewaytest.Gateway, n int) {
	t.Helper()
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return gw.App.Conns().Open == n },
		"the gateway's open client connections to be "+strconv.Itoa(n))
}

// rawConn dials the gateway; the connection closes when the test ends.
func rawConn(t *testing.T, gw *gatewaytest.Gateway) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // bounds a hung test, never reached when passing
	return c
}

// roundTrip sends a GET of path on c and reads the response whole.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// keepAlive holds a keep-alive connection that has served one request.
func keepAlive(t *testing.T, gw *gatewaytest.Gateway) net.Conn {
	t.Helper()
	c := rawConn(t, gw)
	br := bufio.NewReader(c)
	resp := roundTrip(t, c, br, "/healthz")
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("GET /healthz: %d close=%v, want 200 keep-alive", resp.StatusCode, resp.Close)
	}
	return c
}

// sseStream opens a stream of service "s" on up and waits for it to reach
// the upstream.
func sseStream(t *testing.T, gw *gatewaytest.Gateway, up *quietSSE) net.Conn {
	t.Helper()
	c := rawConn(t, gw)
	resp := roundTrip(t, c, bufio.NewReader(c), "/sse/s/events")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /sse/s/events: %d, want 200", resp.StatusCode)
	}
	up.waitOpened(t)
	return c
}

// wsBridge opens a WebSocket through the gateway to service "s".
func wsBridge(t *testing.T, gw *gatewaytest.Gateway) net.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+gw.Addr+"/ws/s", nil)
	if err != nil {
		t.Fatalf("dialing the bridge: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	for _, msg := range []string{"a", strings.Repeat("b", 64<<10)} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("echo through the bridge: %d bytes, %v; want %d bytes", len(got), err, len(msg))
		}
	}
	return c.NetConn()
}

// echoWS is a WebSocket upstream echoing every message.
func echoWS(t *testing.T) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil || c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// expectRefused checks that a new connection is answered status with the
// gateway's JSON error body, and closed.
func expectRefused(t *testing.T, gw *gatewaytest.Gateway, status int) {
	t.Helper()
	c := rawConn(t, gw)
	raw, err := io.ReadAll(c) // the refusal comes unasked, then the close
	if err != nil {
		t.Fatalf("reading the refusal: %v (after %q)", err, raw)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
	if err != nil {
		t.Fatalf("refusal %q: %v", raw, err)
	}
	var body struct {
		Error     *string `json:"error"`
		RequestID *string `json:"requestId"`
	}
	if resp.StatusCode != status || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error == nil || body.RequestID == nil {
		t.Fatalf("refusal %q, want %d with a JSON error body", raw, status)
	}
}

// The third connection from one address, or in all, is refused whatever
// the two open ones are doing, hijacked SSE streams and WebSocket bridges
// included; once one closes, a new connection is served.
func TestConnLimitsCountEveryOpenConnection(t *testing.T) {
	limits := []struct {
		name         string
		perIP, total int
		status       int
	}{
		{"MAX_CONNS_PER_IP", 2, 0, 429},
		{"MAX_CONNS", 0, 2, 503},
	}
	holders := []struct {
		name string
		open func(*testing.T, *gatewaytest.Gateway, *quietSSE) net.Conn
	}{
		{"keep-alive", func(t *testing.T, gw *gatewaytest.Gateway, _ *quietSSE) net.Conn { return keepAlive(t, gw) }},
		{"sse", sseStream},
		{"websocket", func(t *testing.T, gw *gatewaytest.Gateway, _ *quietSSE) net.Conn { return wsBridge(t, gw) }},
	}
	for _, lim := range limits {
		for _, h := range holders {
			t.Run(lim.name+"/"+h.name, func(t *testing.T) {
				sse := newQuietSSE(t)
				ws := echoWS(t)
				up := sse.URL
				if h.name == "websocket" {
					up = ws.URL
				}
				gw := limitedGateway(t, up, lim.perIP, lim.total)
				first := h.open(t, gw, sse)
				h.open(t, gw, sse)
				waitOpenConns(t, gw, 2)

				expectRefused(t, gw, lim.status)
				s := gw.App.Conns()
				if refused := s.RefusedPerIP + s.RefusedTotal; refused != 1 || (lim.status == 429) != (s.RefusedPerIP == 1) {
					t.Errorf("counts %+v, want one refusal over %s", s, lim.name)
				}

				first.Close()
				waitOpenConns(t, gw, 1)
				c := keepAlive(t, gw)
				c.Close()
				waitOpenConns(t, gw, 1)
			})
		}
	}
}

// With a connection limit set, a client that leaves a quiet stream is
// noticed at once: the upstream connection closes within 1 s. (fasthttp's
// own MaxConnsPerIP hid the socket from the hang-up watcher, and such a
// stream stayed open until its next write.)
func TestSSEHangupNoticedUnderConnLimits(t *testing.T) {
	for _, tt := range []struct {
		name         string
		perIP, total int
	}{
		{"no limit", 0, 0},
		{"MAX_CONNS_PER_IP", 2, 0},
		{"MAX_CONNS", 0, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := newQuietSSE(t)
			cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
			cfg.SSEHeartbeat = 0 // nothing is written while the stream is quiet
			cfg.MaxConnsPerIP, cfg.MaxConns = tt.perIP, tt.total
			gw := gatewaytest.Start(t, cfg)
			c, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "GET /sse/s/events HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a hung test
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("opening the stream: %v, %v", resp, err)
			}
			up.waitOpened(t)

			left := time.Now()
			c.Close()
			gatewaytest.UpstreamSawLeave(t, up.gone, left)
		})
	}
}
