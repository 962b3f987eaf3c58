package handlers_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gateway/handlers"
	"gateway/internal/gatewaytest"
	"gateway/upstream"
)

// Shutdown ends open streams cleanly instead of waiting for them, and
// their upstream connections close.
func TestSSEShutdownEndsStreams(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.srv.URL}})
	cfg.SSEHeartbeat = 0
	gw, served := gatewaytest.Serve(t, cfg)

	const streams = 3
	clients := make([]*sseClient, streams)
	for i := range clients {
		clients[i] = openStream(t, gw, "GET", "/sse/s/")
		up.request(t)
	}
	up.send(t, stampedEvent(1))
	clients[0].event(t)

	if d := shutdown(t, gw, 5*time.Second); d > 2*time.Second {
		t.Errorf("shutdown took %v with %d open streams", d, streams)
	}
	<-served
	for i, c := range clients {
		if err := c.ended(t, time.Second); !errors.Is(err, io.EOF) {
			t.Errorf("stream %d ended with %v, want a clean end", i, err)
		}
	}
	for range streams {
		gatewaytest.Receive(t, up.gone, time.Second, "every upstream stream connection to close at the shutdown")
	}
	if u := onlyUpstream(gw); u.Inflight() != 0 || u.Snapshot().ActiveSSE != 0 {
		t.Errorf("after shutdown: inflight %d, active SSE %d", u.Inflight(), u.Snapshot().ActiveSSE)
	}
}

// A stream asked for once Shutdown has begun is refused with 503 and
// Retry-After, and its upstream request is let go.
func TestSSERefusedWhileShuttingDown(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	sse, pool, addr := bareSSE(t, up.srv.URL)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := sse.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with no stream: %v", err)
	}
	c := openStreamProto(t, addr, "HTTP/1.1", "GET", "/sse/s/")
	if c.status != http.StatusServiceUnavailable || c.header.Get("Retry-After") == "" {
		t.Errorf("while shutting down: %d, Retry-After %q", c.status, c.header.Get("Retry-After"))
	}
	select {
	case <-up.gone:
	case <-time.After(time.Second):
		t.Error("the refused stream's upstream connection stayed open")
	}
	u := pool.Service("s").Upstreams()[0]
	if u.Inflight() != 0 || u.Snapshot().ActiveSSE != 0 {
		t.Errorf("after refusing: inflight %d, active SSE %d", u.Inflight(), u.Snapshot().ActiveSSE)
	}
}

// On a server that closes hijacked connections when their handler returns
// (fasthttp's default), the stream is relayed inside the handler.
func TestSSEOnServerClosingHijackedConns(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	_, pool, addr := bareSSE(t, up.srv.URL)

	c := openStreamProto(t, addr, "HTTP/1.1", "GET", "/sse/s/")
	up.request(t)
	for i := 1; i <= 2; i++ {
		up.send(t, stampedEvent(i))
		if d := stampDelay(t, c.event(t)); d > firstEventWithin {
			t.Errorf("event %d after %v", i, d)
		}
	}
	close(up.end)
	if err := c.ended(t, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v, want a clean end", err)
	}
	u := pool.Service("s").Upstreams()[0]
	gatewaytest.Eventually(t, time.Second, func() bool {
		return u.Inflight() == 0 && u.Snapshot().ActiveSSE == 0
	}, "inflight and active SSE back to 0")
}

// bareSSE serves the SSE handler alone on a plain Fiber app (fasthttp's
// default: hijacked connections close when their handler returns) in front
// of upstreamURL, as service "s".
func bareSSE(t *testing.T, upstreamURL string) (*handlers.SSE, *upstream.Pool, string) {
	t.Helper()
	cfg := gatewaytest.Config(map[string][]string{"s": {upstreamURL}})
	pool, err := upstream.New(upstream.Options{Services: cfg.Upstreams})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sse := handlers.NewSSE(pool, cfg, nil)
	f := fiber.New(fiber.Config{DisableStartupMessage: true})
	f.Get("/sse/:service/*", sse.Handle)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Listener(ln) }()
	t.Cleanup(func() { _ = f.Shutdown() })
	return sse, pool, ln.Addr().String()
}
