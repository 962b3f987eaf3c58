// Package app wires the gateway: it builds the upstream pool, the Fiber app,
// the middleware chain and the route table from a Config. Nothing imports it
// but main and the tests.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/config"
	"gateway/handlers"
	"gateway/internal/connlimit"
	"gateway/internal/metrics"
	"gateway/internal/streams"
	"gateway/internal/tracing"
	"gateway/middleware"
	"gateway/upstream"
)

// Options are the parts of an App that do not come from configuration.
type Options struct {
	Logger *slog.Logger // nil: a logger built from cfg.LogLevel and cfg.LogFormat on stderr
}

// App is one gateway: a Fiber app in front of an upstream pool.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	fiber    *fiber.App
	pool     *upstream.Pool
	draining atomic.Bool
	// stopStreams end the long-lived streams (SSE, WebSocket) on Shutdown,
	// which would otherwise wait on them; set by streamRoutes.
	stopStreams []func(context.Context)
	streams     *streams.Registry // SSE streams and WebSocket bridges; see routes_streams.go
	obs         observability     // metrics registry and sources; see routes_admin.go
	guards      *guards           // shedding, auth, rate limit, cache; see guards.go
	ids         *middleware.RequestIDs
	trace       *middleware.Trace           // W3C Trace Context, and spans when exported
	tracer      *tracing.Tracer             // span export; nil when off (see tracing.go)
	conns       *connlimit.Limiter          // MAX_CONNS and MAX_CONNS_PER_IP, applied by Listener
	pprof       atomic.Pointer[pprofServer] // PPROF_ADDR, set by Listener; nil when off; see pprof.go
	adminFiber  *fiber.App                  // the ADMIN_ADDR app; nil when the admin routes are on the main one
	admin       atomic.Pointer[adminServer] // ADMIN_ADDR, set by Listener; see admin_listener.go
}

// New builds the gateway for cfg. It does not listen; call Listener or
// Listen.
func New(cfg *config.Config, opts Options) (*App, error) {
	obs, err := newObservability()
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: opts.Logger, obs: obs}
	if a.log == nil {
		a.log = NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	}
	pool, err := upstream.New(poolOptions(cfg, a.log))
	if err != nil {
		return nil, fmt.Errorf("building upstream pool: %w", err)
	}
	a.pool = pool
	a.ids = middleware.NewRequestIDs()
	if err := a.newTracing(); err != nil {
		return nil, err
	}
	a.fiber = fiber.New(fiberConfig(cfg, errorHandler(a.ids)))
	a.fiber.Server().HeaderReceived = bodyReadTimeout(cfg.ClientBodyTimeout) // fiber.Config has no field for it
	a.conns = connlimit.New(maxConns(cfg.MaxConns, a.log), cfg.MaxConnsPerIP)
	a.obs.sources.Conns = a.connMetrics
	if err := a.routes(); err != nil {
		_ = a.tracer.Shutdown(context.Background()) // nothing was traced yet: stops its exporter at once
		return nil, err
	}
	return a, nil
}

// fiberConfig is the server configuration: request bodies stream (a 1 GiB
// upload never sits in memory), the read buffer is the header size limit,
// and every error answers in the gateway's JSON shape. Connection limits
// are not fasthttp's (Concurrency, MaxConnsPerIP) but the listener's: see
// Listener.
func fiberConfig(cfg *config.Config, onError fiber.ErrorHandler) fiber.Config {
	bodyLimit := math.MaxInt32 // bodies stream; MAX_BODY_BYTES is enforced by the proxy
	if cfg.MaxBodyBytes > 0 && cfg.MaxBodyBytes < math.MaxInt32 {
		bodyLimit = int(cfg.MaxBodyBytes)
	}
	return fiber.Config{
		DisableStartupMessage:        true,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    bodyLimit,
		ReadBufferSize:               cfg.MaxHeaderBytes,
		ReadTimeout:                  cfg.ServerReadTimeout,
		IdleTimeout:                  cfg.ServerIdleTimeout,
		ErrorHandler:                 onError,
	}
}

// bodyReadTimeout is the server's HeaderReceived hook: once a request's
// head is read, a request with a body gets a fresh read deadline of idle
// (CLIENT_BODY_TIMEOUT_MS), so SERVER_READ_TIMEOUT_MS (fasthttp's
// ReadTimeout, armed before the head) bounds the head only. fasthttp reads
// the first up to 8 KiB of a streamed body before the handler runs, under
// this deadline; from then on the proxy moves the deadline before every
// read of the body (see handlers' clientBody), so a body that keeps coming
// is never cut and one silent for longer than idle is answered 408.
func bodyReadTimeout(idle time.Duration) func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if cl := h.ContentLength(); cl > 0 || cl == -1 { // a length, or chunked
			return fasthttp.RequestConfig{ReadTimeout: idle}
		}
		return fasthttp.RequestConfig{}
	}
}

// routes installs the middleware chain and the route table.
func (a *App) routes() error {
	f := a.fiber
	recoverer := middleware.NewRecoverer(a.log, a.ids)
	a.obs.sources.Panics = recoverer.Panics
	f.Use(recoverer.Handler()) // first, so that it covers everything after it
	if a.cfg.AdminAddr != "" {
		a.adminFiber = a.newAdminFiber(recoverer)
	}
	f.Use(middleware.RequestID(a.ids))
	f.Use(a.trace.Context())
	f.Use(a.httpMetrics())
	f.Use(middleware.PathGuard())
	f.Use(middleware.AccessLog(a.log, handlers.LocalUpstream, handlers.LocalRetries))

	proxy := handlers.NewProxy(a.pool, a.cfg)
	g, err := newGuards(a.cfg, a.log, a.refresher(proxy))
	if err != nil {
		return err
	}
	a.guards = g
	g.sources(&a.obs.sources)

	health := handlers.NewHealth(a.drainingCheck, g.overloaded)
	f.Get("/healthz", health.Live)
	f.Get("/readyz", health.Ready)
	a.adminRouter().Get("/_pressure", g.shed.PressureHandler())

	f.All(routeAPI, a.traced(routeAPI, with(g.api(), proxy.Handle))...)
	a.streamRoutes()
	return a.adminRoutes()
}

func (a *App) drainingCheck() string {
	if a.draining.Load() {
		return "draining"
	}
	return ""
}

// Draining reports whether Shutdown has begun.
func (a *App) Draining() bool { return a.draining.Load() }

// Pool returns the upstream pool the handlers share.
func (a *App) Pool() *upstream.Pool { return a.pool }

// Fiber returns the Fiber app, for tests that drive it in memory.
func (a *App) Fiber() *fiber.App { return a.fiber }

// Listener serves on ln until Shutdown, with MAX_CONNS and
// MAX_CONNS_PER_IP enforced on the connections it accepts (see connlimit).
// With PPROF_ADDR set it first starts the pprof listener there, which
// Shutdown stops.
func (a *App) Listener(ln net.Listener) error {
	if a.cfg.PprofAddr != "" && a.pprof.Load() == nil {
		p, err := startPprof(a.cfg.PprofAddr, a.log)
		if err != nil {
			return err
		}
		a.pprof.Store(p)
	}
	adminAt := ln.Addr()
	if a.adminFiber != nil && a.admin.Load() == nil {
		s, err := a.startAdmin()
		if err != nil {
			return err
		}
		a.admin.Store(s)
		adminAt = s.ln.Addr()
	}
	a.warnOpenAdmin(adminAt)
	return a.fiber.Listener(a.conns.Listener(ln))
}

// AdminAddr is the address the ADMIN_ADDR listener listens on, "" when it
// is off or not started yet.
func (a *App) AdminAddr() string {
	if s := a.admin.Load(); s != nil {
		return s.ln.Addr().String()
	}
	return ""
}

// PprofAddr is the address the PPROF_ADDR listener listens on, "" when it
// is off or not started yet.
func (a *App) PprofAddr() string {
	if p := a.pprof.Load(); p != nil {
		return p.addr()
	}
	return ""
}

// Conns returns the counts of client connections: open, and refused over
// MAX_CONNS_PER_IP or MAX_CONNS.
func (a *App) Conns() connlimit.Stats { return a.conns.Stats() }

// connMetrics adapts the limiter's counts to the metrics collector's.
func (a *App) connMetrics() metrics.ConnStats {
	s := a.conns.Stats()
	return metrics.ConnStats{Open: int64(s.Open), RefusedPerIP: s.RefusedPerIP, RefusedTotal: s.RefusedTotal}
}

// Shutdown drains the gateway within ctx: /readyz turns 503 at once, and
// for SHUTDOWN_DELAY_MS everything else is still served, new connections
// and streams included, so that a load balancer polling readiness takes
// this instance out before it stops accepting (Kubernetes removes a pod
// from its endpoints only after the readiness probe fails, concurrently
// with the SIGTERM). Then the listener closes, requests in flight finish,
// and open streams are ended spread over STREAM_DRAIN_MS (SSE with a
// `retry:` field and a clean end, WebSocket with 1001). It then releases
// the guards and the pool. ctx bounds the whole, the delay included: main
// gives it SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS.
func (a *App) Shutdown(ctx context.Context) error {
	a.draining.Store(true)
	a.delay(ctx)
	var wg sync.WaitGroup
	for _, stop := range a.stopStreams {
		wg.Go(func() { stop(ctx) })
	}
	if p := a.pprof.Load(); p != nil {
		wg.Go(func() { p.stop(ctx) })
	}
	if s := a.admin.Load(); s != nil {
		wg.Go(func() { s.stop(ctx) })
	}
	err := a.fiber.ShutdownWithContext(ctx)
	wg.Wait()
	a.guards.close()
	a.pool.Close()
	a.flushSpans(ctx)
	return err
}

// delay waits SHUTDOWN_DELAY_MS, or until ctx ends.
func (a *App) delay(ctx context.Context) {
	if a.cfg.ShutdownDelay <= 0 {
		return
	}
	a.log.Info("draining: readiness off, still serving", slog.Duration("delay", a.cfg.ShutdownDelay))
	t := time.NewTimer(a.cfg.ShutdownDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Reload replaces the upstream list with cfg's. Upstreams whose URL is
// unchanged keep their connections, stats and open streams.
//
// The open streams of a removed upstream continue undisturbed; with
// STREAM_MAX_AGE_AFTER_REMOVAL_MS set they are ended that long after,
// spread over STREAM_DRAIN_MS (WebSocket close 1012), so that their
// clients come back to the upstreams that remain.
func (a *App) Reload(cfg *config.Config) error {
	before := a.upstreams()
	if err := a.pool.Replace(cfg.Upstreams); err != nil {
		return fmt.Errorf("reloading upstreams: %w", err)
	}
	after := a.upstreams()
	var removed []*upstream.Upstream
	for u := range before {
		if !after[u] {
			removed = append(removed, u)
		}
	}
	a.streams.Removed(removed)
	a.log.Info("upstreams reloaded", slog.Int("services", len(cfg.Upstreams)), slog.Int("removed", len(removed)))
	return nil
}

// upstreams returns the set of the pool's current upstreams.
func (a *App) upstreams() map[*upstream.Upstream]bool {
	set := make(map[*upstream.Upstream]bool)
	for _, svc := range a.pool.Services() {
		for _, u := range svc.Upstreams() {
			set[u] = true
		}
	}
	return set
}
