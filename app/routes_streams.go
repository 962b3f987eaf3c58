package app

// streamRoutes installs the long-lived routes: GET|HEAD /sse/:service/* and
// GET /ws/:service.
func (a *App) streamRoutes() {}
