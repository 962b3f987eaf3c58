package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/gofiber/fiber/v2"

	"gateway/middleware"
)

// adminServer is the ADMIN_ADDR listener: the operator's routes (/admin,
// /admin/stats, /metrics, /_pressure) on an address of their own, as
// Envoy and Traefik keep their admin endpoints apart from the traffic
// port, so that a firewall or a bind to loopback closes them to clients.
// The main listener then answers 404 for those paths.
type adminServer struct {
	fiber *fiber.App
	ln    net.Listener
	done  chan error // receives Listener's result once serving stops
}

// newAdminFiber is the Fiber app behind ADMIN_ADDR: the same error shape,
// request ids and panic recovery as the main app, without the request
// guards of the traffic routes (admin routes carry their own auth).
func (a *App) newAdminFiber(rec *middleware.Recoverer) *fiber.App {
	f := fiber.New(fiberConfig(a.cfg, errorHandler(a.ids)))
	f.Use(rec.Handler())
	f.Use(middleware.RequestID(a.ids))
	return f
}

// adminRouter is where the operator's routes go: the ADMIN_ADDR app when
// one is configured, else the main app.
func (a *App) adminRouter() *fiber.App {
	if a.adminFiber != nil {
		return a.adminFiber
	}
	return a.fiber
}

// startAdmin listens on ADMIN_ADDR and serves the admin app there until
// Shutdown.
func (a *App) startAdmin() (*adminServer, error) {
	ln, err := net.Listen("tcp", a.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("listening for admin on %s: %w", a.cfg.AdminAddr, err)
	}
	s := &adminServer{fiber: a.adminFiber, ln: ln, done: make(chan error, 1)}
	go func() { s.done <- s.fiber.Listener(ln) }()
	a.log.Info("admin listening", slog.String("addr", ln.Addr().String()))
	return s, nil
}

// stop shuts the admin app down within ctx.
func (s *adminServer) stop(ctx context.Context) {
	_ = s.fiber.ShutdownWithContext(ctx)
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

// warnOpenAdmin logs a warning when the admin routes answer without auth
// (AUTH_REQUIRED off) on addr, an address other than loopback: the
// dashboard and /metrics name every upstream and its errors.
func (a *App) warnOpenAdmin(addr net.Addr) {
	if a.cfg.AuthRequired || loopback(addr) {
		return
	}
	a.log.Warn("admin endpoints reachable without auth on a non-loopback address; set ADMIN_ADDR to a loopback address or AUTH_REQUIRED=true",
		slog.String("addr", addr.String()))
}

// loopback reports whether addr is a TCP address on a loopback interface
// (127.0.0.0/8, ::1). The unspecified address (0.0.0.0, ::) listens on
// every interface, so it is not.
func loopback(addr net.Addr) bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
