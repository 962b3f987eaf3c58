package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// Shutdown lets a request in flight finish, turns /readyz to 503 and stops
// accepting connections.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	t.Cleanup(up.Close)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	g, served := gatewaytest.Serve(t, cfg)
	gw, base := g.App, g.URL

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz before shutdown: %d", resp.StatusCode)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/api/s/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-arrived

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown <- gw.Shutdown(ctx)
	}()
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", g.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the listener to close")
	if !gw.Draining() {
		t.Fatal("gateway not draining during shutdown")
	}
	close(release)
	r := <-inflight
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v, want 200 finished", r)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Listener returned %v", err)
	}
}

// For SHUTDOWN_DELAY_MS after Shutdown begins, /readyz answers 503 while
// everything else is still served, on new connections too; only then does
// the listener close.
func TestShutdownDelayKeepsServing(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.ShutdownDelay = 2 * time.Second
	g, served := gatewaytest.Serve(t, cfg)

	began := time.Now()
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownDelay+cfg.ShutdownTimeout)
		defer cancel()
		shutdown <- g.App.Shutdown(ctx)
	}()
	// Each request on a connection of its own: the listener must still accept.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, error) {
		resp, err := client.Get(g.URL + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	gatewaytest.Eventually(t, time.Second, func() bool {
		code, err := get("/readyz")
		return err == nil && code == http.StatusServiceUnavailable
	}, "/readyz to answer 503")
	if code, err := get("/api/s/x"); err != nil || code != 200 {
		t.Fatalf("proxied request during the delay: %d %v, want 200", code, err)
	}
	if code, err := get("/healthz"); err != nil || code != 200 {
		t.Fatalf("/healthz during the delay: %d %v, want 200", code, err)
	}
	if elapsed := time.Since(began); elapsed >= cfg.ShutdownDelay {
		t.Skipf("the checks took %v, longer than the delay: machine too slow to tell", elapsed)
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", g.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the listener to close")
	if closed := time.Since(began); closed < cfg.ShutdownDelay {
		t.Errorf("listener closed %v after Shutdown began, before SHUTDOWN_DELAY_MS (%v)", closed, cfg.ShutdownDelay)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Listener returned %v", err)
	}
}
