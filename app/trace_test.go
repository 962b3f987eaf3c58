package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	clientState  = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
)

// freshParent is a version 00 traceparent with non-zero ids, as the
// gateway starts one (Trace Context, "traceparent Header").
var freshParent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

// traceUpstream records the trace headers of every request it gets, on
// /api (plain answer), /events (an SSE stream that ends at once) and /ws
// (a WebSocket that closes at once).
type traceUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startTraceUpstream(t *testing.T) *traceUpstream {
	t.Helper()
	u := &traceUpstream{}
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/events"):
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: hello\n\n")
		case strings.HasPrefix(r.URL.Path, "/ws"):
			c, err := upgrader.Upgrade(w, r, nil)
			if err == nil {
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				c.Close()
			}
		default:
			w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=30")
			_, _ = io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(u.Server.Close)
	return u
}

// requests returns how many requests the upstream has seen.
func (u *traceUpstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last returns the trace headers of the upstream's last request.
func (u *traceUpstream) last(t *testing.T) (parent string, states []string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	h := u.seen[len(u.seen)-1]
	if ps := h.Values("Traceparent"); len(ps) != 1 {
		t.Fatalf("upstream got traceparent lines %q, want one", ps)
	}
	return h.Get("Traceparent"), h.Values("Tracestate")
}

// traceCase is one incoming trace context and what the upstream must see.
type traceCase struct {
	name      string
	parent    string   // the client's traceparent ("" = none)
	states    []string // the client's tracestate lines
	keep      bool     // the trace continues: same trace id, the state as sent
	wantFlags string
}

var traceCases = []traceCase{
	{"valid, sampled", "00-" + clientTrace + "-" + clientParent + "-01", []string{clientState}, true, "01"},
	{"valid, not sampled", "00-" + clientTrace + "-" + clientParent + "-00", []string{clientState, "x=1"}, true, "00"},
	{"missing", "", nil, false, "01"},
	{"upper-case hex", "00-" + strings.ToUpper(clientTrace) + "-" + clientParent + "-01", []string{clientState}, false, "01"},
	{"zero trace id", "00-" + strings.Repeat("0", 32) + "-" + clientParent + "-01", []string{clientState}, false, "01"},
	{"version ff", "ff-" + clientTrace + "-" + clientParent + "-01", nil, false, "01"},
	{"cut short", "00-" + clientTrace + "-" + clientParent, nil, false, "01"},
}

// checkUpstreamTrace checks the upstream's traceparent against the
// client's: the trace kept (same id, the gateway's span as parent, the
// state unchanged) or restarted (a fresh id, no state). It returns the
// trace id.
func checkUpstreamTrace(t *testing.T, tc traceCase, parent string, states []string) string {
	t.Helper()
	m := freshParent.FindStringSubmatch(parent)
	if m == nil {
		t.Fatalf("upstream traceparent %q is not a version 00 one with non-zero ids", parent)
	}
	if m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
		t.Fatalf("upstream traceparent %q has a zero id", parent)
	}
	if m[2] == clientParent {
		t.Fatalf("upstream traceparent %q names the client's span as parent, not the gateway's", parent)
	}
	if !strings.HasSuffix(parent, "-"+tc.wantFlags) {
		t.Fatalf("upstream traceparent %q, want flags %s", parent, tc.wantFlags)
	}
	if tc.keep {
		if m[1] != clientTrace {
			t.Fatalf("upstream trace id %s, want the client's %s", m[1], clientTrace)
		}
		if strings.Join(states, "|") != strings.Join(tc.states, "|") {
			t.Fatalf("upstream tracestate %q, want the client's %q", states, tc.states)
		}
		return m[1]
	}
	if m[1] == clientTrace {
		t.Fatalf("upstream kept trace id %s of an invalid traceparent", m[1])
	}
	if len(states) != 0 {
		t.Fatalf("upstream got tracestate %q with a restarted trace", states)
	}
	return m[1]
}

// setTrace writes tc's client headers into h.
func setTrace(h http.Header, tc traceCase) {
	if tc.parent != "" {
		h.Set("Traceparent", tc.parent)
	}
	for _, s := range tc.states {
		h.Add("Tracestate", s)
	}
}

// TestTraceContextAPI: /api continues a valid incoming trace and restarts
// an invalid or missing one, the upstream seeing the gateway's span as
// parent; x-request-id is untouched, and the access log line carries the
// trace id beside the request id.
func TestTraceContextAPI(t *testing.T) {
	up := startTraceUpstream(t)
	var logs syncBuffer
	gw := gatewaytest.StartLogged(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}), &logs)
	for i, tc := range traceCases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", gw.URL+"/api/s/items", nil)
			setTrace(req.Header, tc)
			reqID := "trace-case-" + string(rune('a'+i))
			req.Header.Set("X-Request-Id", reqID)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Request-Id"); got != reqID {
				t.Fatalf("x-request-id %q, want %q", got, reqID)
			}
			parent, states := up.last(t)
			traceID := checkUpstreamTrace(t, tc, parent, states)
			line := logs.waitLine(t, `"requestId":"`+reqID+`"`)
			if line["traceId"] != traceID {
				t.Fatalf("access log traceId %v, want %s: %v", line["traceId"], traceID, line)
			}
		})
	}
}

// TestTraceContextTwoParents: of two traceparent lines the first is
// continued and only the gateway's reaches the upstream.
func TestTraceContextTwoParents(t *testing.T) {
	up := startTraceUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}))
	req, _ := http.NewRequest("GET", gw.URL+"/api/s/items", nil)
	req.Header.Add("Traceparent", traceCases[0].parent)
	req.Header.Add("Traceparent", "00-"+strings.Repeat("ab", 16)+"-"+strings.Repeat("cd", 8)+"-01")
	req.Header.Set("Tracestate", clientState)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent, states := up.last(t)
	checkUpstreamTrace(t, traceCases[0], parent, states)
}

// TestTraceContextStreams: /sse and the upstream WebSocket handshake of
// /ws carry the trace context as /api does.
func TestTraceContextStreams(t *testing.T) {
	up := startTraceUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}))
	for _, tc := range traceCases {
		t.Run("sse "+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", gw.URL+"/sse/s/events", nil)
			setTrace(req.Header, tc)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			parent, states := up.last(t)
			checkUpstreamTrace(t, tc, parent, states)
		})
		t.Run("ws "+tc.name, func(t *testing.T) {
			h := http.Header{}
			setTrace(h, tc)
			c, _, err := websocket.DefaultDialer.Dial("ws://"+gw.Addr+"/ws/s?path=/ws", h)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			parent, states := up.last(t)
			checkUpstreamTrace(t, tc, parent, states)
		})
	}
}

// TestTraceContextCacheRefresh: the cache's background refresh continues
// the trace of the request that met the stale entry, under a span of its
// own: same trace id, a parent-id the client never sent.
func TestTraceContextCacheRefresh(t *testing.T) {
	up := startTraceUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	gw := gatewaytest.Start(t, cfg)
	get := func(tc traceCase) string {
		req, _ := http.NewRequest("GET", gw.URL+"/api/s/cached", nil)
		setTrace(req.Header, tc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}
	get(traceCase{}) // fills the cache (max-age=1)
	filled := up.requests()
	tc := traceCases[0]
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return get(tc) == "STALE" }, "a stale answer once max-age passed")
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return up.requests() > filled }, "the background refresh")
	parent, states := up.last(t)
	checkUpstreamTrace(t, tc, parent, states)
}

// syncBuffer is a log sink the gateway writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// waitLine waits for the JSON log line containing substr and decodes it.
func (b *syncBuffer) waitLine(t *testing.T, substr string) map[string]any {
	t.Helper()
	var line map[string]any
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
		for sc.Scan() {
			if bytes.Contains(sc.Bytes(), []byte(substr)) && json.Unmarshal(sc.Bytes(), &line) == nil {
				return true
			}
		}
		return false
	}, "a log line with "+substr)
	return line
}
