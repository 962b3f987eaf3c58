package app

import (
	"context"

	"github.com/fasthttp/websocket"

	"gateway/handlers"
	"gateway/internal/metrics"
)

// streamRoutes installs the long-lived routes: GET|HEAD /sse/:service/* and
// GET /ws/:service.
func (a *App) streamRoutes() {
	sse := handlers.NewSSE(a.pool, a.cfg)
	a.fiber.Get("/sse/:service/*", with(a.guards.stream(), sse.Handle)...) // Fiber's Get also routes HEAD
	a.stopStreams = append(a.stopStreams, func(ctx context.Context) { a.stopSSE(ctx, sse) })

	ws := handlers.NewWSBridge(a.pool, a.cfg, a.log)
	// The bridge owns the upgraded client connections, so fasthttp frees the
	// upgrade's goroutine and request context at once (see WSBridge).
	a.fiber.Server().KeepHijackedConns = true
	a.fiber.Get("/ws/:service", with(a.guards.stream(), ws.Handle)...)
	a.stopStreams = append(a.stopStreams, func(ctx context.Context) { a.closeBridges(ctx, ws) })
	a.obs.sources.WebSocket = func() metrics.WebSocketStats { return wsMetrics(ws.Stats()) }
}

// stopSSE ends every SSE stream cleanly and waits for them until ctx
// ends; streams still open then are left to be cut by the exit.
func (a *App) stopSSE(ctx context.Context, sse *handlers.SSE) {
	if err := sse.Shutdown(ctx); err != nil {
		a.log.Warn("sse streams cut at shutdown", "error", err)
	}
}

// closeBridges ends every WebSocket bridge with 1001 Going Away on both
// sides; bridges still open when ctx ends are cut.
func (a *App) closeBridges(ctx context.Context, ws *handlers.WSBridge) {
	if err := ws.CloseAll(ctx, websocket.CloseGoingAway); err != nil {
		a.log.Warn("websocket bridges cut at shutdown", "error", err)
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
