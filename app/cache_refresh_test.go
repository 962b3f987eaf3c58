package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
	"gateway/middleware"
)

// recordingUpstream answers every request "v", stale at once but usable for
// a minute while it is refreshed in the background (RFC 5861), and keeps the
// header of each request it sees.
type recordingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=0, stale-while-revalidate=60")
		_, _ = w.Write([]byte("v"))
	}))
	t.Cleanup(u.Server.Close)
	return u
}

// waitRequest waits for the upstream's n-th request (from 1) and returns its header.
func (u *recordingUpstream) waitRequest(t *testing.T, n int) http.Header {
	t.Helper()
	var h http.Header
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		if len(u.seen) >= n {
			h = u.seen[n-1]
		}
		return h != nil
	}, "upstream request")
	return h
}

// A background refresh is the gateway's own request, built as a client
// request is: the client that met the stale entry sent a forged
// X-Forwarded-For, a Connection field nominating X-Foo, X-Foo and its own
// request id; the refresh the upstream gets carries the gateway's view of
// the client, no X-Foo, and a fresh request id, logged with the client's.
func TestCacheRefreshIsBuiltAsAClientRequest(t *testing.T) {
	up := startRecordingUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	logs := &syncBuffer{}
	gw := gatewaytest.StartLogged(t, cfg, logs)

	if _, _, xc, _ := rawGet(t, gw.Addr, "/api/s/page", "gw.example"); xc != "MISS" {
		t.Fatalf("first request X-Cache %q, want MISS", xc)
	}
	const trigger = "client-trigger-1"
	_, _, xc, _ := rawGet(t, gw.Addr, "/api/s/page", "gw.example",
		"X-Forwarded-For: 6.6.6.6\r\n", "Connection: X-Foo\r\n", "X-Foo: bar\r\n", "x-request-id: "+trigger+"\r\n")
	if xc != "STALE" {
		t.Fatalf("second request X-Cache %q, want STALE", xc)
	}
	h := up.waitRequest(t, 2)

	if got := strings.Join(h.Values("X-Forwarded-For"), ", "); got != "127.0.0.1" {
		t.Errorf("refresh X-Forwarded-For %q, want the gateway's view of the client, 127.0.0.1", got)
	}
	if got := h.Get("X-Forwarded-Host"); got != "gw.example" {
		t.Errorf("refresh X-Forwarded-Host %q, want gw.example", got)
	}
	if got := h.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("refresh X-Forwarded-Proto %q, want http", got)
	}
	if v, ok := h["X-Foo"]; ok {
		t.Errorf("refresh carries X-Foo %q, which the client's Connection named hop-by-hop", v)
	}
	if v := h.Values("Connection"); len(v) > 0 && strings.Contains(strings.ToLower(strings.Join(v, ",")), "x-foo") {
		t.Errorf("refresh carries Connection %q", v)
	}
	ids := h.Values("X-Request-Id")
	if len(ids) != 1 || ids[0] == trigger || !middleware.ValidRequestID([]byte(ids[0])) {
		t.Fatalf("refresh x-request-id %q, want one fresh id, not the client's %q", ids, trigger)
	}
	line := logs.waitLine(t, `"msg":"cache refresh"`)
	if line["requestId"] != ids[0] || line["triggeredBy"] != trigger {
		t.Errorf("refresh log line %v, want requestId %s and triggeredBy %s", line, ids[0], trigger)
	}
}
