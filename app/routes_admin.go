package app

import (
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"gateway/handlers"
	"gateway/internal/metrics"
)

// Paths of the observability routes.
const (
	metricsPath    = "/metrics"
	adminPath      = "/admin"
	adminStatsPath = "/admin/stats"
	decisionsPath  = "/admin/decisions"
)

// observability is the app's metrics state: its own Prometheus registry
// (never the global default one), the HTTP metrics middleware on it, and the
// counters of other components that the gateway collector reads.
type observability struct {
	registry *prometheus.Registry
	http     *metrics.HTTP
	build    metrics.BuildInfo
	started  time.Time
	// sources is filled by New (client connections) and the route hooks
	// that own counters (WebSocket, rate limit, cache, load shedding)
	// before adminRoutes reads it.
	sources metrics.Sources
}

// newObservability creates the registry and the HTTP metrics middleware:
// gateway_http_requests_total and gateway_http_request_duration_seconds by
// status code, method and route template (/api/:service/*, never the raw
// path; requests that matched no route are not counted). The series are
// fiberprometheus's; see metrics.HTTP for why its middleware is not.
func newObservability() (observability, error) {
	reg := prometheus.NewRegistry()
	h, err := metrics.NewHTTP(reg, "gateway", "http")
	if err != nil {
		return observability{}, err
	}
	return observability{
		registry: reg,
		http:     h,
		build:    metrics.ReadBuildInfo(),
		started:  time.Now(),
	}, nil
}

// httpMetrics is the middleware counting every request; routes installs it
// ahead of the routes so that it sees each one's final status.
func (a *App) httpMetrics() fiber.Handler { return a.obs.http.Middleware }

// adminRoutes installs GET /metrics, GET /admin, GET /admin/stats and the
// decision routes, on the ADMIN_ADDR listener when it is set (see
// adminRouter). It runs last in routes, after the hooks that fill
// a.obs.sources.
func (a *App) adminRoutes() error {
	c := metrics.NewCollector(a.pool, a.obs.build, a.obs.sources)
	if err := metrics.Register(a.obs.registry, c); err != nil {
		return err
	}
	admin, err := handlers.NewAdmin(a.pool, a.obs.build, a.obs.started, adminStatsPath)
	if err != nil {
		return fmt.Errorf("building admin handlers: %w", err)
	}
	r := a.adminRouter()
	a.obs.http.RegisterAt(r, metricsPath)
	r.Get(adminPath, with(a.guards.admin(), admin.Page)...)
	r.Get(adminStatsPath, with(a.guards.admin(), admin.Stats)...)
	decisions := handlers.NewDecisions(a.pool)
	r.Get(decisionsPath, with(a.guards.admin(), decisions.Recent)...)
	r.Get(decisionsPath+"/:requestId", with(a.guards.admin(), decisions.One)...)
	return nil
}
