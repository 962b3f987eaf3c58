package handlers_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"gateway/app"
	"gateway/internal/gatewaytest"
)

// Shutdown ends open streams cleanly instead of waiting for them, and
// their upstream connections close.
func TestSSEShutdownEndsStreams(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.srv.URL}})
	cfg.SSEHeartbeat = 0
	a, err := app.New(cfg, app.Options{Logger: gatewaytest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Listener(ln) }()
	gw := &gatewaytest.Gateway{App: a, Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String()}

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
		select {
		case <-up.gone:
		case <-time.After(time.Second):
			t.Fatal("an upstream stream connection outlived the shutdown")
		}
	}
	if u := onlyUpstream(gw); u.Inflight() != 0 || u.Snapshot().ActiveSSE != 0 {
		t.Errorf("after shutdown: inflight %d, active SSE %d", u.Inflight(), u.Snapshot().ActiveSSE)
	}
}
