package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// getBody returns the status and body of a GET of url.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// PPROF_ADDR serves net/http/pprof on its own listener, nowhere on the
// main port, and Shutdown closes it.
func TestPprofOnItsOwnListener(t *testing.T) {
	cfg := gatewaytest.Config(map[string][]string{"s": {gatewaytest.DeadURL(t)}})
	cfg.PprofAddr = "127.0.0.1:0"
	g, served := gatewaytest.Serve(t, cfg)
	// The main socket accepts connections from net.Listen on; Listener,
	// which starts pprof, runs in a goroutine.
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return g.App.PprofAddr() != "" }, "the pprof listener")
	addr := g.App.PprofAddr()
	if addr == "" || addr == g.Addr {
		t.Fatalf("pprof address %q (main %s)", addr, g.Addr)
	}
	tests := []struct {
		name, url string
		status    int
		contains  string
	}{
		{"index on the pprof listener", "http://" + addr + "/debug/pprof/", 200, "Types of profiles available"},
		{"a named profile", "http://" + addr + "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"cmdline", "http://" + addr + "/debug/pprof/cmdline", 200, ""},
		{"nothing else there", "http://" + addr + "/metrics", 404, ""},
		{"not on the main port", g.URL + "/debug/pprof/", 404, ""},
		{"no profile on the main port", g.URL + "/debug/pprof/goroutine?debug=1", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := getBody(t, tt.url)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s: %d %.80q, want %d containing %q", tt.url, status, body, tt.status, tt.contains)
			}
			if tt.status == 404 && strings.Contains(body, "profile") {
				t.Errorf("GET %s answered with a profile: %.80q", tt.url, body)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.App.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-served
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("pprof listener %s still accepts after Shutdown", addr)
	}
}

// Without PPROF_ADDR nothing is started.
func TestPprofOffByDefault(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {gatewaytest.DeadURL(t)}}))
	if a := g.App.PprofAddr(); a != "" {
		t.Errorf("pprof listening on %s without PPROF_ADDR", a)
	}
	if status, _ := getBody(t, g.URL+"/debug/pprof/"); status != 404 {
		t.Errorf("main port /debug/pprof/: %d, want 404", status)
	}
}
