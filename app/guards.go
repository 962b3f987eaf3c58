package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"gateway/config"
	"gateway/internal/metrics"
	"gateway/middleware"
	"gateway/middleware/jwks"
	"gateway/middleware/ratelimit"
	"gateway/middleware/shed"
)

// guards are the protections on the request path, built from the
// configuration: load shedding (always, since /_pressure reports readings
// even with no limit set), JWT (always: with auth off it still strips a
// client's X-Auth-Subject, so upstreams can trust that header), and the
// rate limiter and cache, each only when configured.
type guards struct {
	shed   *shed.Shedder
	auth   fiber.Handler
	limit  *ratelimit.Limiter // nil when RATE_LIMIT_MAX is 0
	cache  *middleware.Cache  // nil when CACHE_ENABLED is false
	keys   *jwks.Set          // nil unless auth is on with JWT_JWKS_URL
	cancel context.CancelFunc // stops the shedder's sampler
}

// newGuards builds the guards; refresh fetches for the cache's
// stale-while-revalidate.
func newGuards(cfg *config.Config, log *slog.Logger, refresh middleware.Refresher) (*guards, error) {
	g := &guards{}
	auth, err := g.newAuth(cfg, log)
	if err != nil {
		return nil, err
	}
	g.auth = auth
	if g.shed, err = shed.New(cfg); err != nil {
		return nil, fmt.Errorf("building load shedder: %w", err)
	}
	if cfg.RateLimitMax > 0 {
		if g.limit, err = ratelimit.New(cfg, ratelimit.WithLogger(log)); err != nil {
			return nil, fmt.Errorf("building rate limiter: %w", err)
		}
	}
	if cfg.CacheEnabled {
		if g.cache, err = middleware.NewCache(cfg, middleware.WithRefresher(refresh)); err != nil {
			g.close()
			return nil, fmt.Errorf("building cache: %w", err)
		}
	}
	var ctx context.Context
	ctx, g.cancel = context.WithCancel(context.Background())
	g.shed.Start(ctx)
	if g.keys != nil {
		g.keys.Start(ctx)
	}
	return g, nil
}

// newAuth builds the JWT middleware and, with auth on and JWT_JWKS_URL set,
// the key set it verifies asymmetric tokens with (started by newGuards).
func (g *guards) newAuth(cfg *config.Config, log *slog.Logger) (fiber.Handler, error) {
	if !cfg.AuthRequired || len(cfg.JWTJWKSURLs) == 0 {
		return middleware.NewJWT(cfg), nil
	}
	keys, err := jwks.New(cfg.JWTJWKSURLs, jwks.WithRefresh(cfg.JWTJWKSRefresh), jwks.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("building JWK Set: %w", err)
	}
	g.keys = keys
	return middleware.NewJWT(cfg, middleware.WithJWTKeys(keys)), nil
}

// api is the chain ahead of the /api proxy: shed first (before any work),
// then auth, then the rate limit (keyed by the authenticated subject when
// configured so), then the cache.
func (g *guards) api() []fiber.Handler {
	hs := []fiber.Handler{g.shed.Handler(), g.auth}
	if g.limit != nil {
		hs = append(hs, g.limit.Handler())
	}
	if g.cache != nil {
		hs = append(hs, g.cache.Handler())
	}
	return hs
}

// stream is the chain ahead of /sse and /ws: as api, without the cache,
// and with the shedder's stream handler (a stream is not counted as an
// in-flight request for hours).
func (g *guards) stream() []fiber.Handler {
	hs := []fiber.Handler{g.shed.StreamHandler(), g.auth}
	if g.limit != nil {
		hs = append(hs, g.limit.Handler())
	}
	return hs
}

// admin is the chain ahead of the admin page and its JSON: auth only;
// operators are neither rate limited nor shed.
func (g *guards) admin() []fiber.Handler { return []fiber.Handler{g.auth} }

// overloaded is the readiness check of load shedding.
func (g *guards) overloaded() string {
	if g.shed.Overloaded() {
		return "overloaded"
	}
	return ""
}

// sources exposes the guards' counters to the metrics collector.
func (g *guards) sources(s *metrics.Sources) {
	s.Shed = func() metrics.ShedStats {
		st := g.shed.Stats()
		return metrics.ShedStats{Inflight: int64(st.ShedInflight), Pressure: int64(st.ShedPressure)}
	}
	if g.limit != nil {
		s.RateLimited = func() int64 { return int64(g.limit.Stats().Rejected) }
	}
	if g.cache != nil {
		s.Cache = func() metrics.CacheStats {
			st := g.cache.Stats()
			return metrics.CacheStats{Hits: int64(st.Hits + st.Stale), Misses: int64(st.Misses), Bypasses: int64(st.Bypasses)}
		}
	}
}

// with returns chain followed by h, as one route's handlers.
func with(chain []fiber.Handler, h fiber.Handler) []fiber.Handler {
	return append(chain[:len(chain):len(chain)], h)
}

// close stops the sampler and releases the rate limiter's and cache's
// resources, once serving has stopped.
func (g *guards) close() {
	if g.cancel != nil {
		g.cancel()
	}
	_ = g.shed.Close()
	if g.limit != nil {
		_ = g.limit.Close()
	}
	if g.cache != nil {
		_ = g.cache.Close()
	}
	if g.keys != nil {
		g.keys.Close()
	}
}
