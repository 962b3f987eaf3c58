package app_test

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

// Reload swaps the upstream list: a new service answers, a removed one is
// unknown, and an unchanged upstream keeps its identity and stats.
func TestReloadReplacesUpstreams(t *testing.T) {
	a, _ := echoUpstream(t, "a")
	b, _ := echoUpstream(t, "b")
	cfg := gatewaytest.Config(map[string][]string{"old": {a.URL}, "kept": {a.URL}})
	gw := gatewaytest.Start(t, cfg)
	status := func(path string) int {
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("/api/kept/x") != 200 || status("/api/old/x") != 200 || status("/api/new/x") != 404 {
		t.Fatal("before reload: want kept and old 200, new 404")
	}
	kept := gw.App.Pool().Service("kept").Upstreams()[0]

	next := gatewaytest.Config(map[string][]string{"kept": {a.URL}, "new": {b.URL}})
	if err := gw.App.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := status("/api/new/x"); got != 200 {
		t.Errorf("new service after reload: %d", got)
	}
	if got := status("/api/old/x"); got != 404 {
		t.Errorf("removed service after reload: %d", got)
	}
	if got := status("/api/kept/x"); got != 200 {
		t.Errorf("kept service after reload: %d", got)
	}
	u := gw.App.Pool().Service("kept").Upstreams()[0]
	if u != kept || u.Snapshot().Requests != 2 {
		t.Errorf("kept upstream replaced or its stats lost: same=%v requests=%d", u == kept, u.Snapshot().Requests)
	}
	if err := gw.App.Reload(gatewaytest.Config(map[string][]string{"bad": {"ftp://x"}})); err == nil {
		t.Error("reload with a bad URL accepted")
	}
	if got := status("/api/new/x"); got != 200 {
		t.Errorf("a refused reload changed the table: new service %d", got)
	}
}

// movedStreams opens n WebSocket bridges and n SSE streams to the upstreams
// of services "ws" and "sse", which the test then removes, and one bridge
// to service "keep", which stays; the ends of the first are sent on the
// channels.
func movedStreams(t *testing.T, gw *gatewaytest.Gateway, n int, ws *recordingWS, sse *quietSSE) (kept *websocket.Conn, bridges []*websocket.Conn, closes chan closeSeen, ends chan sseEnd) {
	t.Helper()
	closes, ends = make(chan closeSeen, n), make(chan sseEnd, n)
	for range n {
		c := dialBridge(t, gw, "ws")
		gatewaytest.Receive(t, ws.opened, 5*time.Second, "the bridge to reach the upstream")
		bridges = append(bridges, c)
		go awaitSSEEnd(openSSE(t, gw, "sse", sse), ends)
	}
	return dialBridge(t, gw, "keep"), bridges, closes, ends
}

// echoes checks that c still carries a message both ways.
func echoes(t *testing.T, c *websocket.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte("again")); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "again" {
		t.Fatalf("%s: echo %q %v", what, got, err)
	}
	_ = c.SetReadDeadline(time.Time{})
}

// A reload that removes an upstream leaves its open streams alone by
// default (STREAM_MAX_AGE_AFTER_REMOVAL_MS=0).
func TestReloadKeepsStreamsOfRemovedUpstream(t *testing.T) {
	ws, keep, sse := newRecordingWS(t), newRecordingWS(t), newQuietSSE(t)
	cfg := drainConfig(ws.URL, sse.URL, 0) // a move would end them all at once
	cfg.Upstreams["keep"] = []string{keep.URL}
	gw := gatewaytest.Start(t, cfg)
	_, bridges, _, ends := movedStreams(t, gw, 2, ws, sse)

	other := newRecordingWS(t)
	reloaded := time.Now()
	if err := gw.App.Reload(gatewaytest.Config(map[string][]string{"ws": {other.URL}, "keep": {keep.URL}})); err != nil {
		t.Fatal(err)
	}
	// Nothing signals that nothing happened: the bridges are kept busy
	// with round trips for half a second, which a move would interrupt.
	for time.Since(reloaded) < 500*time.Millisecond {
		for _, c := range bridges {
			echoes(t, c, "a bridge to a removed upstream after the reload")
		}
	}
	select {
	case e := <-ends:
		t.Fatalf("an SSE stream of a removed upstream ended after the reload: %+v", e)
	case c := <-ws.closes:
		t.Fatalf("a bridge of a removed upstream was closed after the reload: %+v", c)
	default:
	}
}

// With STREAM_MAX_AGE_AFTER_REMOVAL_MS, the streams of an upstream a reload
// removed are moved off it that long after, spread over STREAM_DRAIN_MS:
// WebSocket bridges with close 1012 on both sides, SSE streams with a
// `retry:` field and a clean end. Streams of a kept upstream stay.
func TestReloadMovesStreamsOffRemovedUpstream(t *testing.T) {
	const n = 4 // of each kind
	const window, maxAge = 2 * time.Second, 300 * time.Millisecond
	ws, keep, sse := newRecordingWS(t), newRecordingWS(t), newQuietSSE(t)
	cfg := drainConfig(ws.URL, sse.URL, window)
	cfg.Upstreams["keep"] = []string{keep.URL}
	cfg.StreamMaxAgeAfterRemove = maxAge
	gw := gatewaytest.Start(t, cfg)
	kept, bridges, closes, ends := movedStreams(t, gw, n, ws, sse)
	for _, c := range bridges {
		go awaitClose(c, window+10*time.Second, closes)
	}

	other := newRecordingWS(t)
	reloaded := time.Now()
	if err := gw.App.Reload(gatewaytest.Config(map[string][]string{"ws": {other.URL}, "keep": {keep.URL}})); err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	for i := range n {
		c := gatewaytest.Receive(t, closes, window+5*time.Second, "a moved bridge's close frame")
		u := gatewaytest.Receive(t, ws.closes, 5*time.Second, "the removed upstream's close frame")
		if c.code != websocket.CloseServiceRestart || u.code != websocket.CloseServiceRestart {
			t.Errorf("bridge %d closed with %d to the client and %d to the upstream, want 1012 on both sides", i, c.code, u.code)
		}
		s := gatewaytest.Receive(t, ends, 5*time.Second, "a moved SSE stream's end")
		if !errors.Is(s.err, io.EOF) || s.retry < time.Second {
			t.Errorf("SSE stream %d ended with %v, retry %v; want a clean end after a retry field", i, s.err, s.retry)
		}
		at = append(at, c.at, s.at)
	}
	if got := span(at); got < window/2 {
		t.Errorf("the %d moved streams ended within %v of each other, want spread over at least half the %v window", 2*n, got, window)
	}
	for _, e := range at {
		if e.Sub(reloaded) < maxAge {
			t.Errorf("a stream was moved %v after the reload, before STREAM_MAX_AGE_AFTER_REMOVAL_MS (%v)", e.Sub(reloaded), maxAge)
		}
	}
	echoes(t, kept, "the bridge to the kept upstream after the moves")
	select {
	case c := <-keep.closes:
		t.Errorf("the kept upstream's bridge was closed: %+v", c)
	default:
	}
	// The moved clients come back and reach the remaining upstream.
	dialBridge(t, gw, "ws")
	gatewaytest.Receive(t, other.opened, 5*time.Second, "a reconnected bridge to reach the new upstream")
}
