package app

import (
	"context"

	"gateway/handlers"
	"gateway/internal/metrics"
	"gateway/middleware"
)

// streamRoutes installs the long-lived routes: GET|HEAD /sse/:service/* and
// GET /ws/:service, whose streams share one registry, ended on Shutdown
// spread over STREAM_DRAIN_MS. Each stream's end is logged, and traced with
// export on (middleware.StreamEnds).
func (a *App) streamRoutes() {
	a.streams = handlers.NewStreams(a.cfg)
	ends := handlers.WithStreamEnds(middleware.NewStreamEnds(a.log, handlers.LocalUpstream))
	sse := handlers.NewSSE(a.pool, a.cfg, a.streams, ends)
	a.fiber.Get(routeSSE, a.traced(routeSSE, with(a.guards.stream(), sse.Handle))...) // Fiber's Get also routes HEAD

	ws := handlers.NewWSBridge(a.pool, a.cfg, a.log, a.streams, ends)
	// The bridge owns the upgraded client connections, so fasthttp frees the
	// upgrade's goroutine and request context at once (see WSBridge).
	a.fiber.Server().KeepHijackedConns = true
	a.fiber.Get(routeWS, a.traced(routeWS, with(a.guards.stream(), ws.Handle))...)
	a.stopStreams = append(a.stopStreams, a.endStreams)
	a.obs.sources.WebSocket = func() metrics.WebSocketStats { return wsMetrics(ws.Stats()) }
}

// endStreams ends every SSE stream (a `retry:` field, then a clean end)
// and WebSocket bridge (1001 Going Away on both sides), spread over
// STREAM_DRAIN_MS, and waits for them until ctx ends; those still open
// then are cut.
func (a *App) endStreams(ctx context.Context) {
	if err := a.streams.Shutdown(ctx); err != nil {
		a.log.Warn("streams cut at shutdown", "error", err)
	}
}

// wsMetrics adapts the bridge's counters to the metrics collector's.
func wsMetrics(s handlers.WSStats) metrics.WebSocketStats {
	return metrics.WebSocketStats{
		MessagesToUpstream: s.ClientToUpstream.Messages,
		MessagesToClient:   s.UpstreamToClient.Messages,
		BytesToUpstream:    s.ClientToUpstream.Bytes,
		BytesToClient:      s.UpstreamToClient.Bytes,
		Closes:             s.Closes,
	}
}
