package ratelimit

import (
	"errors"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"gateway/config"
	"gateway/internal/apierror"
)

// Response headers of the IETF RateLimit header fields draft, on every
// response of a limited route.
const (
	HeaderLimit     = "RateLimit-Limit"
	HeaderRemaining = "RateLimit-Remaining"
	HeaderReset     = "RateLimit-Reset"
)

// Defaults of the options.
const (
	// DefaultMaxKeys caps the memory store: ~100 k clients in a few MB.
	DefaultMaxKeys = 100_000
	// DefaultRedisTimeout bounds one Redis round trip; a loopback or
	// same-zone Redis answers in well under a millisecond.
	DefaultRedisTimeout = 100 * time.Millisecond
	// DefaultRedisRetry is how long the limiter stays local after a
	// Redis failure before probing again.
	DefaultRedisRetry = time.Second
)

const (
	// keyBufLen fits "ip:" and any IPv6 address on the stack.
	keyBufLen = 80
	// unavailableRetryAfter is Retry-After when failing closed.
	unavailableRetryAfter = 1
)

// Limiter limits requests per client with a sliding window (see
// window.go): RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS per key of
// RATE_LIMIT_KEY. Counts live in a bounded in-memory store, or, with
// REDIS_URL, in Redis, shared by every replica; the memory store then mirrors
// this replica's traffic and takes over while Redis is unreachable
// (RATE_LIMIT_REDIS_FAIL_OPEN, else 503). Build it with New, install
// Handler, read Stats, Close it at shutdown. Not to be copied.
type Limiter struct {
	limit    uint64
	window   time.Duration
	key      clientKey
	seed     maphash.Seed
	now      func() time.Time
	local    *memoryStore
	redis    *redisStore // nil without REDIS_URL
	failOpen bool
	limitHdr []byte // RateLimit-Limit's value, formatted once
	// The header names in fasthttp's canonical form, so setting them skips
	// normalisation (a third of the limiter's time otherwise).
	nameLimit, nameRemaining, nameReset []byte

	allowed, rejected, fallbacks, unavailable atomic.Uint64
}

// Stats is a snapshot of a Limiter's counters for /metrics.
type Stats struct {
	Allowed     uint64 // requests let through
	Rejected    uint64 // requests answered 429
	Keys        int    // keys held by the in-memory store
	Evicted     uint64 // keys dropped by the key cap before they expired
	RedisErrors uint64 // Redis decisions that failed (timeouts, refused, script errors)
	Fallbacks   uint64 // decisions the local store took because Redis was unavailable
	Unavailable uint64 // requests answered 503: Redis unavailable, fail-open off
	RedisDown   bool   // Redis is configured and its last decision failed
}

// Option tunes New; the defaults suit production.
type Option func(*options)

type options struct {
	now          func() time.Time
	log          *slog.Logger
	maxKeys      int
	redisTimeout time.Duration
	redisRetry   time.Duration
	subject      func(*fiber.Ctx) string
}

// WithClock sets the clock of the memory store and of the Redis
// retry schedule (default time.Now). Redis windows follow Redis's own clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLogger sets where Redis outages and recoveries are logged
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithMaxKeys caps the keys of the memory store (default
// DefaultMaxKeys, about 40 bytes each; rounded up to a multiple of 64).
func WithMaxKeys(n int) Option {
	return func(o *options) { o.maxKeys = n }
}

// WithRedisTimeout bounds each Redis dial, write and read (default
// DefaultRedisTimeout): a request waits at most this for Redis.
func WithRedisTimeout(d time.Duration) Option {
	return func(o *options) { o.redisTimeout = d }
}

// WithRedisRetry sets how long the limiter stays local after a Redis
// failure before one request probes Redis again (default DefaultRedisRetry).
func WithRedisRetry(d time.Duration) Option {
	return func(o *options) { o.redisRetry = d }
}

// WithSubject replaces how RATE_LIMIT_KEY=sub learns a request's
// authenticated subject (default middleware.Subject, set by the JWT
// middleware); a request whose subject is "" is keyed by its client IP.
func WithSubject(f func(*fiber.Ctx) string) Option {
	return func(o *options) { o.subject = f }
}

// New builds the limiter for cfg. It fails when the limiter is off
// (RateLimitMax 0: the app should not install it), on a bad RATE_LIMIT_KEY or
// REDIS_URL, or a non-positive window. Redis is dialled lazily: an
// unreachable Redis at start is an outage like any other, not a start failure.
func New(cfg *config.Config, opts ...Option) (*Limiter, error) {
	o := options{
		now:          time.Now,
		log:          slog.Default(),
		maxKeys:      DefaultMaxKeys,
		redisTimeout: DefaultRedisTimeout,
		redisRetry:   DefaultRedisRetry,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.RateLimitMax <= 0 {
		return nil, errors.New("rate limit is off: RATE_LIMIT_MAX is 0")
	}
	if cfg.RateLimitWindow <= 0 {
		return nil, errors.New("RATE_LIMIT_WINDOW_MS must be positive")
	}
	key, err := parseClientKey(cfg.RateLimitKey, cfg.TrustedProxies, cfg.RateLimitIPv6Prefix)
	if err != nil {
		return nil, err
	}
	if o.subject != nil {
		key.subject = o.subject
	}
	l := &Limiter{
		limit:    uint64(cfg.RateLimitMax),
		window:   cfg.RateLimitWindow,
		key:      key,
		seed:     maphash.MakeSeed(),
		now:      o.now,
		local:    newMemoryStore(cfg.RateLimitMax, cfg.RateLimitWindow, o.maxKeys),
		failOpen: cfg.RateLimitRedisFailOpen,
		limitHdr: strconv.AppendInt(nil, int64(cfg.RateLimitMax), 10),
		// fasthttp's canonical form of Header*.
		nameLimit:     []byte("Ratelimit-Limit"),
		nameRemaining: []byte("Ratelimit-Remaining"),
		nameReset:     []byte("Ratelimit-Reset"),
	}
	if cfg.RedisURL != "" {
		l.redis, err = newRedisStore(cfg.RedisURL, cfg.RateLimitMax, cfg.RateLimitWindow, o.redisTimeout, o.redisRetry, o.log)
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Handler returns the middleware. An allowed request goes on and its response
// gets the RateLimit-* headers once the rest of the chain is done (so a proxy
// that rebuilds the response cannot drop them); a limited one gets 429 with
// Retry-After (the wait until the window has decayed enough) and the same
// headers, Remaining 0.
func (l *Limiter) Handler() fiber.Handler {
	return l.handle
}

func (l *Limiter) handle(c *fiber.Ctx) error {
	var buf [keyBufLen]byte
	st, ok := l.decide(l.key.appendKey(buf[:0], c))
	if !ok {
		l.unavailable.Add(1)
		return apierror.WriteRetry(c, fiber.StatusServiceUnavailable, "rate limiter unavailable", unavailableRetryAfter)
	}
	if !st.allowed {
		l.rejected.Add(1)
		l.setHeaders(c, st)
		return apierror.WriteRetry(c, fiber.StatusTooManyRequests, "too many requests", st.retryAfterSeconds(l.limit, l.window))
	}
	l.allowed.Add(1)
	err := c.Next()
	l.setHeaders(c, st)
	return err
}

// decide takes the decision for key: in Redis when configured and
// reachable, else locally (or not at all, ok false, when failing closed).
func (l *Limiter) decide(key []byte) (windowState, bool) {
	now := l.now()
	h := maphash.Bytes(l.seed, key)
	if l.redis == nil {
		return l.local.take(h, now, false), true
	}
	if st, ok := l.redis.take(key, now); ok {
		if st.allowed {
			l.local.take(h, now, true) // mirror, ready for a Redis outage
		}
		return st, true
	}
	if !l.failOpen {
		return windowState{}, false
	}
	l.fallbacks.Add(1)
	return l.local.take(h, now, false), true
}

// setHeaders writes the RateLimit-* fields for st.
func (l *Limiter) setHeaders(c *fiber.Ctx, st windowState) {
	var num [20]byte
	h := &c.Response().Header
	h.SetCanonical(l.nameLimit, l.limitHdr)
	h.SetCanonical(l.nameRemaining, strconv.AppendUint(num[:0], st.remaining(l.limit, l.window), 10))
	h.SetCanonical(l.nameReset, strconv.AppendInt(num[:0], st.resetSeconds(l.window), 10))
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() Stats {
	s := Stats{
		Allowed:     l.allowed.Load(),
		Rejected:    l.rejected.Load(),
		Keys:        l.local.keys(),
		Evicted:     l.local.evicted.Load(),
		Fallbacks:   l.fallbacks.Load(),
		Unavailable: l.unavailable.Load(),
	}
	if l.redis != nil {
		s.RedisErrors = l.redis.failures.Load()
		s.RedisDown = l.redis.down.Load()
	}
	return s
}

// Close releases the Redis connections, if any; call it once, at shutdown,
// after the server stopped serving. The memory store needs no closing: it
// has no goroutine (expiry happens on insert).
func (l *Limiter) Close() error {
	if l.redis == nil {
		return nil
	}
	return l.redis.close()
}
