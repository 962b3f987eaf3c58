package app_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/config"
	"gateway/internal/gatewaytest"
)

// closeSeen is a WebSocket close frame one side of a bridge received, and
// when.
type closeSeen struct {
	code int
	at   time.Time
}

// recordingWS is a WebSocket upstream that echoes and records the close
// frame each of its connections receives from the gateway.
type recordingWS struct {
	*httptest.Server
	opened chan struct{}
	closes chan closeSeen
}

func newRecordingWS(t *testing.T) *recordingWS {
	t.Helper()
	u := &recordingWS{opened: make(chan struct{}, 64), closes: make(chan closeSeen, 64)}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		u.opened <- struct{}{}
		for {
			typ, msg, err := c.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				u.closes <- closeSeen{ce.Code, time.Now()}
				return
			}
			if err != nil || c.WriteMessage(typ, msg) != nil {
				u.closes <- closeSeen{-1, time.Now()}
				return
			}
		}
	}))
	t.Cleanup(func() {
		u.CloseClientConnections()
		u.Close()
	})
	return u
}

// dialBridge opens a WebSocket to service svc through the gateway and
// checks one echo.
func dialBridge(t *testing.T, gw *gatewaytest.Gateway, svc string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+gw.Addr+"/ws/"+svc, nil)
	if err != nil {
		t.Fatalf("dialing the bridge: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "hi" {
		t.Fatalf("echo through the bridge: %q %v", got, err)
	}
	return c
}

// awaitClose reads c until its close frame and sends it on out; anything
// else than a close frame is sent with code -1.
func awaitClose(c *websocket.Conn, within time.Duration, out chan<- closeSeen) {
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.NextReader()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			out <- closeSeen{ce.Code, time.Now()}
		} else {
			out <- closeSeen{-1, time.Now()}
		}
		return
	}
}

// sseEnd is how an SSE stream through the gateway ended: its `retry:`
// field, if any, the error that ended the body (io.EOF: a clean end of the
// chunked body), and when.
type sseEnd struct {
	retry time.Duration
	err   error
	at    time.Time
}

// openSSE opens a stream of service svc through the gateway on a
// connection of its own and returns its body, once the upstream has it.
func openSSE(t *testing.T, gw *gatewaytest.Gateway, svc string, up *quietSSE) io.ReadCloser {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(gw.URL + "/sse/" + svc + "/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 {
		t.Fatalf("GET /sse/%s/events: %d %v, want 200 chunked", svc, resp.StatusCode, resp.TransferEncoding)
	}
	up.waitOpened(t)
	return resp.Body
}

// awaitSSEEnd reads body's lines until it ends and sends how on out.
func awaitSSEEnd(body io.Reader, out chan<- sseEnd) {
	br := bufio.NewReader(body)
	var end sseEnd
	for {
		line, err := br.ReadString('\n')
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "retry:"); ok {
			ms, _ := strconv.Atoi(strings.TrimSpace(v))
			end.retry = time.Duration(ms) * time.Millisecond
		}
		if err != nil {
			end.err, end.at = err, time.Now()
			out <- end
			return
		}
	}
}

// drainConfig is the configuration of the drain tests: a WebSocket
// service "ws" and an SSE service "sse", heartbeats and pings out of the
// way, and window as STREAM_DRAIN_MS.
func drainConfig(ws, sse string, window time.Duration) *config.Config {
	cfg := gatewaytest.Config(map[string][]string{"ws": {ws}, "sse": {sse}})
	cfg.SSEHeartbeat = 0
	cfg.WSPingInterval = time.Minute
	cfg.StreamDrain = window
	cfg.ShutdownTimeout = window + 5*time.Second
	return cfg
}

// span returns the time between the first and the last of ts.
func span(ts []time.Time) time.Duration {
	lo, hi := ts[0], ts[0]
	for _, t := range ts[1:] {
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	return hi.Sub(lo)
}

// On shutdown with STREAM_DRAIN_MS, open WebSocket bridges get close 1001
// on both sides and SSE streams a jittered `retry:` field and then a clean
// end of the chunked body, the ends spread over the window rather than in
// one instant.
func TestShutdownSpreadsStreamEnds(t *testing.T) {
	const n = 5 // of each kind
	const window = 2 * time.Second
	ws := newRecordingWS(t)
	sse := newQuietSSE(t)
	cfg := drainConfig(ws.URL, sse.URL, window)
	gw, served := gatewaytest.Serve(t, cfg)

	clientCloses := make(chan closeSeen, n)
	sseEnds := make(chan sseEnd, n)
	for range n {
		c := dialBridge(t, gw, "ws")
		gatewaytest.Receive(t, ws.opened, 5*time.Second, "the bridge to reach the upstream")
		go awaitClose(c, window+10*time.Second, clientCloses)
		go awaitSSEEnd(openSSE(t, gw, "sse", sse), sseEnds)
	}

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := gw.App.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-served

	var ends []time.Time
	retries := make(map[time.Duration]bool)
	for i := range n {
		c := gatewaytest.Receive(t, clientCloses, 5*time.Second, "a WebSocket client's close frame")
		u := gatewaytest.Receive(t, ws.closes, 5*time.Second, "a WebSocket upstream's close frame")
		if c.code != websocket.CloseGoingAway || u.code != websocket.CloseGoingAway {
			t.Errorf("bridge %d closed with %d to the client and %d to the upstream, want 1001 on both sides", i, c.code, u.code)
		}
		s := gatewaytest.Receive(t, sseEnds, 5*time.Second, "an SSE stream's end")
		if !errors.Is(s.err, io.EOF) {
			t.Errorf("SSE stream %d ended with %v, want a clean end of the chunked body", i, s.err)
		}
		if s.retry < time.Second || s.retry >= 5*time.Second {
			t.Errorf("SSE stream %d: retry %v, want a jittered delay in [1s, 5s)", i, s.retry)
		}
		retries[s.retry] = true
		ends = append(ends, c.at, s.at)
	}
	if len(retries) < 2 {
		t.Errorf("every SSE stream got the same retry %v, want jittered delays", retries)
	}
	if got := span(ends); got < window/2 {
		t.Errorf("the %d streams ended within %v of each other, want spread over at least half the %v window", 2*n, got, window)
	}
	if last := span(append(ends, began)); last < window/2 {
		t.Errorf("last stream ended %v after Shutdown began, want at least half the window", last)
	}
}
