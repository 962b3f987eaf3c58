package app

import (
	"context"

	"github.com/fasthttp/websocket"

	"gateway/handlers"
	"gateway/metrics"
)

// streamRoutes installs the long-lived routes: GET|HEAD /sse/:service/* and
// GET /ws/:service.
func (a *App) streamRoutes() {
	sse := handlers.NewSSE(a.pool, a.cfg)
	a.fiber.Get("/sse/:service/*", with(a.guards.stream(), sse.Handle)...) // Fiber's Get also routes HEAD
	a.stopStreams = append(a.stopStreams, func() { a.stopSSE(sse) })

	ws := handlers.NewWSBridge(a.pool, a.cfg, a.log)
	// The bridge owns the upgraded client connections, so fasthttp frees the
	// upgrade's goroutine and request context at once (see WSBridge).
	a.fiber.Server().KeepHijackedConns = true
	a.fiber.Get("/ws/:service", with(a.guards.stream(), ws.Handle)...)
	a.stopStreams = append(a.stopStreams, func() { a.closeBridges(ws) })
	a.obs.sources.WebSocket = func() metrics.WebSocketStats { return wsMetrics(ws.Stats()) }
}

// stopSSE ends every SSE stream cleanly and waits for them; streams still
// open after SHUTDOWN_TIMEOUT_MS are left to be cut by the exit.
func (a *App) stopSSE(sse *handlers.SSE) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := sse.Shutdown(ctx); err != nil {
		a.log.Warn("sse streams cut at shutdown", "error", err)
	}
}

// closeBridges ends every WebSocket bridge with 1001 Going Away on both
// sides; bridges still open after SHUTDOWN_TIMEOUT_MS are cut.
func (a *App) closeBridges(ws *handlers.WSBridge) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
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
