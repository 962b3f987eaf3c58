package app

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/metrics"
	"gateway/internal/tracing"
	"gateway/middleware"
)

// Route templates of the traced routes: the server span's http.route.
const (
	routeAPI = "/api/:service/*"
	routeSSE = "/sse/:service/*"
	routeWS  = "/ws/:service"
)

// newTracing builds the span exporter of the OTEL_* configuration (nil:
// export off) and the trace middleware around it, and exposes the count
// of lost spans to /metrics.
func (a *App) newTracing() error {
	opts, err := tracing.FromConfig(a.cfg, a.obs.build.Version, a.log)
	if err != nil {
		return err
	}
	t, err := tracing.New(opts)
	if err != nil {
		return fmt.Errorf("building the OpenTelemetry exporter: %w", err)
	}
	a.tracer = t
	a.trace = middleware.NewTrace(t, a.cfg.TrustedProxies)
	if t.Enabled() {
		a.obs.sources.Spans = func() metrics.SpanStats {
			s := t.Stats()
			return metrics.SpanStats{Dropped: int64(s.Dropped), Failed: int64(s.Failed)}
		}
	}
	return nil
}

// traced puts route's server span (export on) in front of chain.
func (a *App) traced(route string, chain []fiber.Handler) []fiber.Handler {
	if h := a.trace.Server(route); h != nil {
		return append([]fiber.Handler{h}, chain...)
	}
	return chain
}

// flushSpans exports the spans still queued within what is left of ctx
// (Shutdown's budget); spans it cannot send in time are counted as failed.
func (a *App) flushSpans(ctx context.Context) {
	if err := a.tracer.Shutdown(ctx); err != nil {
		a.log.Warn("trace spans not flushed at shutdown", "error", err)
	}
}
