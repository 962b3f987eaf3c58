package handlers_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
	"gateway/internal/logbuf"
	"gateway/upstream"
)

// upgradeStatus sends a WebSocket opening handshake to url and returns the
// HTTP status and body of the answer, failing the test if it upgraded.
func upgradeStatus(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(url, nil)
	if err == nil {
		c.Close()
		t.Fatalf("%s upgraded; want an HTTP error", url)
	}
	if resp == nil {
		t.Fatalf("%s: no HTTP answer: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// silentListener accepts connections and never answers, for handshake
// timeouts.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

func TestWSUpstreamFailuresAnswerHTTP(t *testing.T) {
	checkLeaks(t)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(refusing.Close)
	cfg := wsConfig(map[string][]string{
		"dead":    {gatewaytest.DeadURL(t)},
		"silent":  {silentListener(t)},
		"refuses": {refusing.URL},
	})
	cfg.ProxyTimeout = 300 * time.Millisecond
	cfg.CBFailureThreshold = 100 // keep breakers closed: this test is about single answers
	gw := gatewaytest.Start(t, cfg)

	tests := []struct {
		name, service, query string
		want                 int
		wantFailure          bool // the upstream's breaker saw a failure
	}{
		{"connection refused", "dead", "", http.StatusBadGateway, true},
		{"handshake timeout", "silent", "", http.StatusGatewayTimeout, true},
		{"upstream answers 500", "refuses", "path=/x", http.StatusBadGateway, true},
		{"upstream answers 403", "refuses", "path=/forbidden", http.StatusBadGateway, false},
		{"unknown service", "nope", "", http.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := failures(gw, tt.service)
			status, body, hdr := upgradeStatus(t, wsURL(gw, tt.service, tt.query))
			if status != tt.want {
				t.Fatalf("status %d, want %d (body %s)", status, tt.want, body)
			}
			var e struct{ Error, RequestID string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || e.RequestID != hdr.Get("X-Request-Id") {
				t.Errorf("body %q is not the gateway's error shape with the request id", body)
			}
			if got := failures(gw, tt.service) - before; (got == 1) != tt.wantFailure {
				t.Errorf("breaker failures +%d, want a failure: %v", got, tt.wantFailure)
			}
		})
	}
}

// failures returns the failure count of the service's first upstream.
func failures(gw *gatewaytest.Gateway, service string) int64 {
	for _, s := range gw.App.Pool().Snapshot().Services {
		if s.Name == service {
			return s.Upstreams[0].Failures
		}
	}
	return 0
}

// With every upstream's breaker open, the client gets 503 and Retry-After
// without any dial.
func TestWSNoUpstreamAvailable(t *testing.T) {
	checkLeaks(t)
	cfg := wsConfig(map[string][]string{"dead": {gatewaytest.DeadURL(t)}})
	cfg.CBFailureThreshold = 1
	cfg.CBCooldown = time.Minute
	cfg.CBMaxCooldown = time.Minute
	gw := gatewaytest.Start(t, cfg)
	if status, body, _ := upgradeStatus(t, wsURL(gw, "dead", "")); status != http.StatusBadGateway {
		t.Fatalf("first attempt: %d %s, want 502 (which trips the breaker)", status, body)
	}
	status, body, hdr := upgradeStatus(t, wsURL(gw, "dead", ""))
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("with the breaker open: %d (Retry-After %q) %s, want 503 with Retry-After", status, hdr.Get("Retry-After"), body)
	}
}

// A refused connection is retried once on another upstream of the service.
func TestWSDialRetriesAnotherUpstream(t *testing.T) {
	checkLeaks(t)
	up := startWSUpstream(t, nil, echo)
	cfg := wsConfig(map[string][]string{"s": {gatewaytest.DeadURL(t), up.URL}})
	var logs logbuf.Buffer
	gw := gatewaytest.StartLogged(t, cfg, &logs)
	for range 4 { // selection may pick either first; every attempt must reach the live one
		c := dialWS(t, wsURL(gw, "s", ""), nil)
		if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c.ReadMessage(); err != nil || string(m) != "x" {
			t.Fatalf("echo %q %v", m, err)
		}
		c.Close()
	}
	// Selection tries the unknown dead upstream at least once: that dial is
	// retried, and the access log says so.
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), `"retries":1`) },
		"an access log line with the retry")
}

func TestWSRequestChecks(t *testing.T) {
	checkLeaks(t)
	up := startWSUpstream(t, nil, echo)
	gw := gatewaytest.Start(t, wsConfig(map[string][]string{"s": {up.URL}}))
	tests := []struct {
		name   string
		query  string
		header map[string]string // nil: a valid WebSocket handshake
		want   int
	}{
		{"protocol-relative path", "path=//evil.example/x", nil, 400},
		{"absolute URL", "path=http://evil.example/", nil, 400},
		{"no leading slash", "path=evil", nil, 400},
		{"backslash", "path=/%5Cevil", nil, 400},
		{"userinfo", "path=/x@evil.example", nil, 400},
		{"control character", "path=/a%0Db", nil, 400},
		{"dot segment", "path=/a/../b", nil, 400},
		{"query in path", "path=/a%3Fb=1", nil, 400},
		{"not an upgrade", "", map[string]string{}, 426},
		{"wrong version", "", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426},
		{"no key", "", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "13"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := wsURL(gw, "s", tt.query)
			var status int
			if tt.header == nil {
				status, _, _ = upgradeStatus(t, u)
			} else {
				req, _ := http.NewRequest("GET", strings.Replace(u, "ws://", "http://", 1), nil)
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != tt.want {
				t.Fatalf("status %d, want %d", status, tt.want)
			}
		})
	}
	const handshake = "Host: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	raw := []struct {
		name, request string
		want          int
	}{
		{"HEAD", "HEAD /ws/s HTTP/1.1\r\nConnection: Upgrade\r\n" + handshake, 405},
		{"HTTP/1.0", "GET /ws/s HTTP/1.0\r\nConnection: Upgrade\r\n" + handshake, 400},
		{"Connection: close", "GET /ws/s HTTP/1.1\r\nConnection: Upgrade, close\r\n" + handshake, 400},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := rawStatus(t, c, tt.request+"\r\n"); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
	select {
	case s := <-up.seen:
		t.Fatalf("the upstream was dialled for a refused request: %+v", s)
	default:
	}
}

// rawStatus sends request as it is on c and returns the response's status,
// reading no further than its header.
func rawStatus(t *testing.T, c net.Conn, request string) int {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode // the body is not read: a HEAD answer has none
}

// A bridge opened as the breaker's half-open probe settles the probe at the
// handshake: while the bridge stays open the breaker closes, and ordinary
// requests reach the upstream again.
func TestWSProbeSettledAtHandshake(t *testing.T) {
	checkLeaks(t)
	healthy := make(chan struct{})
	ws := startWSUpstream(t, nil, echo)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-healthy:
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if websocket.IsWebSocketUpgrade(r) {
			ws.Config.Handler.ServeHTTP(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := wsConfig(map[string][]string{"s": {srv.URL}})
	cfg.CBFailureThreshold = 1
	cfg.CBCooldown = 50 * time.Millisecond
	cfg.CBMaxCooldown = 50 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)

	if status, _, _ := upgradeStatus(t, wsURL(gw, "s", "")); status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", status)
	}
	close(healthy)
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		return gw.App.Pool().Snapshot().Services[0].Upstreams[0].State != upstream.StateOpen ||
			gw.App.Pool().Service("s").Upstreams()[0].Available()
	}, "the breaker's cooldown")
	c := dialWS(t, wsURL(gw, "s", ""), nil) // the probe
	if st := gw.App.Pool().Snapshot().Services[0].Upstreams[0].State; st != upstream.StateClosed {
		t.Fatalf("breaker %v while the probe bridge is open, want closed", st)
	}
	resp, err := http.Get(gw.URL + "/api/s/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/api while the probe bridge is open: %d, want 200", resp.StatusCode)
	}
	c.Close()
}
