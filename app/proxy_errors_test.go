package app_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// errorBody is the gateway's own error shape.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"requestId"`
}

func readError(t *testing.T, resp *http.Response) errorBody {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e errorBody
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", raw, err)
	}
	if e.Error == "" || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("error body %q: want error and requestId matching header %q", raw, resp.Header.Get("X-Request-Id"))
	}
	return e
}

func TestProxyErrorStatuses(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	cfg := gatewaytest.Config(map[string][]string{
		"slow": {slow.URL},
		"dead": {gatewaytest.DeadURL(t)},
	})
	cfg.ProxyTimeout = 200 * time.Millisecond
	cfg.CBFailureThreshold = 2
	cfg.CBCooldown = time.Minute
	gw := gatewaytest.Start(t, cfg)

	tests := []struct {
		name       string
		path       string
		wantStatus int
	}{
		{"unknown service", "/api/nope/x", 404},
		{"upstream timeout", "/api/slow/x", 504},
		{"upstream unreachable", "/api/dead/x", 502},
		{"unreachable again: breaker opens", "/api/dead/x", 502},
		{"all circuits open", "/api/dead/x", 503},
		{"no route", "/nothing-here", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(gw.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			readError(t, resp)
			if tt.wantStatus == 503 && resp.Header.Get("Retry-After") != "60" {
				t.Errorf("Retry-After = %q, want the cool-down, 60", resp.Header.Get("Retry-After"))
			}
		})
	}
}

func TestBadPathsRefusedBeforeRouting(t *testing.T) {
	up, hits := echoUpstream(t, "a")
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"users": {up.URL}}))
	paths := []string{
		"/api/users/../admin",
		"/api/users/./x",
		"/api/users/%2e%2e/x",
		"/api/users/%2E%2e/x",
		"/api/users/.%2E/x",
		"/api/users/a%2fb",
		"/api/users/a%2Fb",
		"/api/users/a%5cb",
		"/api/users/a\\b",
		"/api/users/..",
		"/api/../healthz",
		"/api/users/x/..?q=1",
		"/api/users/..;/admin",
		"/api/users/%2e%2e;jsessionid=1/x",
		"http://host/api/users/../x",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			resp := rawRequest(t, gw.Addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			readError(t, resp)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("upstream received %d requests with bad paths", n)
	}
	// Paths that only look alike pass.
	for _, p := range []string{"/api/users/...", "/api/users/.well-known/x", "/api/users/a..b", "/api/users/%2e%2e%2e", "/api/users/a;b=1"} {
		resp := rawRequest(t, gw.Addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d, want 200", p, resp.StatusCode)
		}
	}
}

func TestRequestIDRules(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"users": {up.URL}}))
	long := strings.Repeat("a", 129)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"none", "", false},
		{"valid kept", "abc-123_x.y:z", true},
		{"128 chars kept", long[:128], true},
		{"129 chars replaced", long, false},
		{"bad chars replaced", "abc def", false},
		{"quote replaced", `a"b`, false},
	}
	seenIDs := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", gw.URL+"/api/users/x", nil)
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			s := decodeSeen(t, resp)
			got := resp.Header.Get("X-Request-Id")
			if got == "" || s.Header.Get("X-Request-Id") != got {
				t.Fatalf("response id %q, upstream saw %q", got, s.Header.Get("X-Request-Id"))
			}
			if tt.kept != (got == tt.sent) {
				t.Fatalf("sent %q got %q, kept=%v", tt.sent, got, tt.kept)
			}
			if !tt.kept && seenIDs[got] {
				t.Fatalf("generated id %q repeated", got)
			}
			seenIDs[got] = true
		})
	}
	t.Run("on 404 too", func(t *testing.T) {
		req, _ := http.NewRequest("GET", gw.URL+"/api/nope/x", nil)
		req.Header.Set("X-Request-Id", "mine-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if e := readError(t, resp); e.RequestID != "mine-1" {
			t.Fatalf("404 requestId %q", e.RequestID)
		}
	})
}

func TestHopByHopAndForwardedHeaders(t *testing.T) {
	up, upHeader := headerUpstream(t, func(w http.ResponseWriter) {
		w.Header().Set("Connection", "X-Up-Hop")
		w.Header().Set("X-Up-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-End", "kept")
		_, _ = io.WriteString(w, "ok")
	})
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}))

	resp := rawRequest(t, gw.Addr, "GET /api/s/x HTTP/1.1\r\nHost: gw.example\r\n"+
		"Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic Zm9v\r\n"+
		"TE: trailers\r\nUpgrade: h2c\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: forged\r\nX-End: kept\r\n\r\n")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := upHeader()
	for _, name := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Upgrade", "Proxy-Connection"} {
		if v := h.Get(name); v != "" {
			t.Errorf("upstream got hop-by-hop %s: %q", name, v)
		}
	}
	if h.Get("Te") != "trailers" {
		t.Errorf("TE: trailers not kept: %q", h.Get("Te"))
	}
	if h.Get("X-End") != "kept" {
		t.Errorf("end-to-end header lost")
	}
	// The client is not a trusted proxy: its forwarded headers are replaced.
	if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want 127.0.0.1 only", got)
	}
	if got := h.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if got := h.Get("X-Forwarded-Host"); got != "gw.example" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	for _, name := range []string{"X-Up-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v := resp.Header.Get(name); v != "" {
			t.Errorf("client got hop-by-hop %s: %q", name, v)
		}
	}
	if resp.Header.Get("X-End") != "kept" {
		t.Error("end-to-end response header lost")
	}
}

func TestForwardedFromTrustedProxy(t *testing.T) {
	up, upHeader := headerUpstream(t, nil)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.TrustedProxies = mustPrefixes(t, "127.0.0.0/8")
	gw := gatewaytest.Start(t, cfg)
	resp := rawRequest(t, gw.Addr, "GET /api/s/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\n\r\n")
	resp.Body.Close()
	h := upHeader()
	if got := h.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Host") != "public.example" {
		t.Errorf("trusted proto/host not kept: %q %q", h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"))
	}
}

// A header sent twice cannot smuggle a forged value past the replacement.
func TestDuplicateForwardedHeadersAreReplacedWhole(t *testing.T) {
	up, upHeader := headerUpstream(t, nil)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}))
	resp := rawRequest(t, gw.Addr, "GET /api/s/x HTTP/1.1\r\nHost: gw\r\n"+
		"X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 6.6.6.6\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n"+
		"X-Forwarded-Host: a\r\nX-Forwarded-Host: b\r\n"+
		"X-Request-Id: good-1\r\nX-Request-Id: bad id\r\n\r\n")
	resp.Body.Close()
	h := upHeader()
	for name, want := range map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw", "X-Request-Id": "good-1",
	} {
		if got := h.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want only %q", name, got, want)
		}
	}
}

// A chunked body past MAX_BODY_BYTES is cut with 413, and a client that
// vanishes mid-upload is not taken for an upstream failure: neither trips
// the breaker of a healthy upstream.
func TestClientBodyFailuresAreNotUpstreamFailures(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.MaxBodyBytes = 64 << 10
	cfg.CBFailureThreshold = 1
	gw := gatewaytest.Start(t, cfg)

	req, _ := http.NewRequest("POST", gw.URL+"/api/s/up", struct{ io.Reader }{io.LimitReader(&pattern{}, 1<<20)})
	resp, err := http.DefaultClient.Do(req)
	if err == nil { // the gateway may also just close the connection on the over-long upload
		if resp.StatusCode != 413 {
			t.Fatalf("chunked 1 MiB over a 64 KiB limit: status %d, want 413", resp.StatusCode)
		}
		readError(t, resp)
	}

	c, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "POST /api/s/up HTTP/1.1\r\nHost: gw\r\nContent-Length: 60000\r\n\r\n")
	_, _ = c.Write(make([]byte, 20000))
	c.Close()

	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		u := gw.App.Pool().Snapshot().Services[0].Upstreams[0]
		return u.Canceled >= 2 && u.Inflight == 0
	}, "both failed uploads to end their leases")
	u := gw.App.Pool().Snapshot().Services[0].Upstreams[0]
	if u.Failures != 0 || u.State.String() != "closed" {
		t.Fatalf("upstream failures %d, breaker %s: a client's failure was blamed on the upstream", u.Failures, u.State)
	}
}

// Requests refused before any middleware runs still get the JSON error and
// a request id.
func TestMalformedRequestsGetJSONErrorsWithIDs(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.MaxHeaderBytes = 4096
	gw := gatewaytest.Start(t, cfg)
	tests := []struct {
		name, raw string
		want      int
	}{
		{"headers over MAX_HEADER_BYTES", "GET /api/s/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8000) + "\r\n\r\n", 431},
		{"garbage request line", "GARBAGE\r\n\r\n", 400},
		{"bad content length", "POST /api/s/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, gw.Addr, tt.raw)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			readError(t, resp) // JSON, with a request id equal to the header's
		})
	}
}

// An upstream that dies mid-body ends the client's response with an error
// (a short body on a closed connection), never a hang or a body passed off
// as complete.
func TestUpstreamDyingMidBodyCutsTheClient(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1048576")
		_, _ = w.Write(make([]byte, 100<<10))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(up.Close)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}))
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(gw.URL + "/api/s/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= 1<<20 {
		t.Fatalf("read %d bytes, err %v: want a short body ending in an error", n, err)
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		return gw.App.Pool().Snapshot().Services[0].Upstreams[0].Inflight == 0
	}, "the upstream's lease to end")
}

// headerUpstream is an upstream that records the header of the last
// request it got (returned by last) and answers through respond, when set.
func headerUpstream(t *testing.T, respond func(http.ResponseWriter)) (up *httptest.Server, last func() http.Header) {
	t.Helper()
	var got atomic.Pointer[http.Header]
	up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		got.Store(&h)
		if respond != nil {
			respond(w)
		}
	}))
	t.Cleanup(up.Close)
	return up, func() http.Header { return *got.Load() }
}
