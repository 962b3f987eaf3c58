package app

import "gateway/handlers"

// streamRoutes installs the long-lived routes: GET|HEAD /sse/:service/* and
// GET /ws/:service.
func (a *App) streamRoutes() {
	sse := handlers.NewSSE(a.pool, a.cfg)
	a.fiber.Get("/sse/:service/*", sse.Handle) // Fiber's Get also routes HEAD
	a.stopStreams = append(a.stopStreams, sse.Shutdown)
}
