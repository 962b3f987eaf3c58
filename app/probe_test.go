package app_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// A stream that is the half-open breaker's probe is judged by its headers:
// while it stays open, other requests to its upstream flow again.
func TestStreamProbeDoesNotHoldTheBreakerHalfOpen(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/events") {
			_, _ = io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(up.Close)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CBFailureThreshold = 1
	cfg.CBCooldown = 100 * time.Millisecond
	cfg.CBMaxCooldown = 100 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)

	resp, err := http.Get(gw.URL + "/api/s/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("first request: %d, want the upstream's 500", resp.StatusCode)
	}
	failing.Store(false)
	// After the cool-down the next request is the probe: open a stream.
	var stream *http.Response
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		r, err := http.Get(gw.URL + "/sse/s/events")
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode == 200 {
			stream = r
			return true
		}
		r.Body.Close()
		return false
	}, "the breaker to let a probe stream through")
	defer stream.Body.Close()
	line, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || line != "data: hello\n" {
		t.Fatalf("stream: %q %v", line, err)
	}
	resp, err = http.Get(gw.URL + "/api/s/plain")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "plain" {
		t.Fatalf("request while the probe stream is open: %d %q, want 200 plain", resp.StatusCode, body)
	}
}
