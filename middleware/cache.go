package middleware

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"

	"gateway/config"
)

// Cache is the shared response cache for safe GETs on /api: an
// LRU bounded by CACHE_MAX_BYTES, keyed by the raw request URI (plus the JWT
// subject for private entries, plus the Host asked for and the forwarding
// values the upstream is told, plus the request headers the response's Vary
// names), with request coalescing and RFC 5861 stale-while-revalidate and
// stale-if-error. Build one with NewCache; Close it on shutdown to stop its
// background refreshes. A Cache must not be copied.
type Cache struct {
	store     *cacheStore
	keys      sync.Pool // *cacheKeyBuf
	flights   singleflight.Group
	refresher Refresher
	subject   func(*fiber.Ctx) string
	now       func() time.Time
	trusted   []netip.Prefix // TRUSTED_PROXIES: whose forwarding fields key entries
	private   [][]byte       // CACHE_PRIVATE_HEADERS: names of the credentials that make a request private

	defaultTTL    time.Duration
	maxBody       int
	bySubject     bool
	passTTL       time.Duration
	shards        int
	maxRefreshing int

	refreshing chan struct{} // semaphore: one slot per background refresh
	ctx        context.Context
	cancel     context.CancelFunc
	mu         sync.Mutex  // orders wg.Add in revalidate before Close's wg.Wait
	closed     atomic.Bool // Close was called
	wg         sync.WaitGroup

	stats cacheCounters
}

// cacheCounters are the Cache's counters and its two gauges (bytes,
// entries); read them with Stats.
type cacheCounters struct {
	hits, misses, bypasses, stale, stores, evictions, coalesced, refreshes atomic.Uint64
	bytes                                                                  atomic.Int64
	entries                                                                atomic.Int64
}

// CacheStats is a snapshot of a Cache's counters, for the metrics engineer.
// Every field but Bytes and Entries only grows.
type CacheStats struct {
	Hits      uint64 // answered from a fresh entry (X-Cache: HIT), coalesced followers included
	Misses    uint64 // went upstream through the cache (X-Cache: MISS)
	Bypasses  uint64 // never looked up: unsafe method, credentials, request no-cache (X-Cache: BYPASS)
	Stale     uint64 // answered from a stale entry (X-Cache: STALE), by swr or sie
	Stores    uint64 // responses stored
	Evictions uint64 // entries evicted to stay under CACHE_MAX_BYTES
	Coalesced uint64 // requests that waited for another request's identical miss
	Refreshes uint64 // background stale-while-revalidate refreshes started
	Bytes     int64  // bytes held now, as counted against CACHE_MAX_BYTES
	Entries   int64  // entries held now (responses, Vary records, pass markers)
}

// CacheOption configures a Cache beyond what config.Config holds.
type CacheOption func(*Cache)

// WithRefresher enables stale-while-revalidate: stale entries are answered
// at once and refreshed in the background through r. Without a Refresher a
// stale entry is refetched in the foreground, as if swr were absent, because
// a background refresh has no fiber.Ctx to run the proxy on.
func WithRefresher(r Refresher) CacheOption { return func(c *Cache) { c.refresher = r } }

// WithCacheClock replaces time.Now, so tests can move time instead of sleeping.
func WithCacheClock(now func() time.Time) CacheOption { return func(c *Cache) { c.now = now } }

// WithSubject replaces how the cache learns the authenticated subject that
// keys private entries when CACHE_PRIVATE_BY_SUBJECT is on. The default is
// the JWT middleware's Subject. When it returns "", requests carrying one of
// the CACHE_PRIVATE_HEADERS bypass the cache.
func WithSubject(f func(*fiber.Ctx) string) CacheOption { return func(c *Cache) { c.subject = f } }

// WithCacheShards sets the number of independently locked LRU shards (a
// power of two). Each shard holds CACHE_MAX_BYTES / n bytes. The default is
// 16, fewer when that would leave a shard too small for four maximal bodies.
func WithCacheShards(n int) CacheOption { return func(c *Cache) { c.shards = n } }

// WithMaxRefreshes bounds the background refreshes running at once (default
// 64); a stale entry met while all slots are busy is still answered stale and
// refreshed by a later request.
func WithMaxRefreshes(n int) CacheOption { return func(c *Cache) { c.maxRefreshing = n } }

// defaultCacheShards is the shard count when memory allows it: enough to keep
// lock contention low on a many-core box, small enough to keep shards large.
const defaultCacheShards = 16

// NewCache returns the cache configured by cfg's CACHE_* fields (the app
// installs it only when CACHE_ENABLED is true). A URL found uncacheable is
// remembered for CACHE_DEFAULT_TTL_MS so its requests skip coalescing. It
// returns an error when the byte limits are unusable rather than silently
// caching nothing.
func NewCache(cfg *config.Config, opts ...CacheOption) (*Cache, error) {
	if cfg.CacheMaxBytes <= 0 {
		return nil, errors.New("cache: CACHE_MAX_BYTES must be positive")
	}
	if cfg.CacheMaxBodyBytes < 0 {
		return nil, errors.New("cache: CACHE_MAX_BODY_BYTES must not be negative")
	}
	c := &Cache{
		subject:       Subject,
		now:           time.Now,
		defaultTTL:    cfg.CacheDefaultTTL,
		maxBody:       cfg.CacheMaxBodyBytes,
		bySubject:     cfg.CachePrivateBySubject,
		trusted:       cfg.TrustedProxies,
		private:       headerNames(cfg.CachePrivateHeaders),
		passTTL:       cfg.CacheDefaultTTL,
		maxRefreshing: 64,
	}
	c.keys.New = func() any { return &cacheKeyBuf{b: make([]byte, 0, 256)} }
	for _, o := range opts {
		o(c)
	}
	if c.passTTL <= 0 {
		c.passTTL = time.Minute
	}
	if c.shards <= 0 {
		c.shards = cacheShardCount(cfg.CacheMaxBytes, int64(cfg.CacheMaxBodyBytes))
	}
	if c.shards&(c.shards-1) != 0 {
		return nil, errors.New("cache: shard count must be a power of two")
	}
	if c.maxRefreshing < 1 {
		c.maxRefreshing = 1
	}
	c.store = newCacheStore(c.shards, cfg.CacheMaxBytes, &c.stats)
	c.refreshing = make(chan struct{}, c.maxRefreshing)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// headerNames returns names as byte slices, so the hit path can peek them
// without converting a string on every request.
func headerNames(names []string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte(n)
	}
	return out
}

// cacheShardCount picks the largest shard count up to the default that
// leaves room for four maximal entries in each shard.
func cacheShardCount(maxBytes, maxBody int64) int {
	n := defaultCacheShards
	for n > 1 && maxBytes/int64(n) < 4*(maxBody+cacheEntryOverhead) {
		n /= 2
	}
	return n
}

// Handler returns the middleware for GET and HEAD on /api/:service/*. It
// must run before the proxy handler and after the request-id, JWT and rate
// limit middleware.
func (c *Cache) Handler() fiber.Handler { return c.serve }

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	s := &c.stats
	return CacheStats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Bypasses: s.bypasses.Load(),
		Stale: s.stale.Load(), Stores: s.stores.Load(), Evictions: s.evictions.Load(),
		Coalesced: s.coalesced.Load(), Refreshes: s.refreshes.Load(), Bytes: s.bytes.Load(), Entries: s.entries.Load(),
	}
}

// Close stops background refreshes and waits for the running ones to end.
// The handler keeps working afterwards, without stale-while-revalidate.
// Close is safe to call more than once.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed.Store(true)
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}
