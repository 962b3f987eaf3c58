package middleware

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/internal/apierror"
)

// msgBodyIncomplete is the 502 answered when the upstream body the cache
// was reading broke off: the client gets an error, not a truncated body.
const msgBodyIncomplete = "upstream response body incomplete"

// serve is the cache's fiber.Handler. The hit path does not allocate.
func (c *Cache) serve(ctx *fiber.Ctx) error {
	h := &ctx.Context().Request.Header
	if !h.IsGet() && !h.IsHead() {
		return c.bypass(ctx, nil)
	}
	mode := requestCacheMode(h)
	subject := ""
	if mode != reqNoStore && c.carriesCredentials(h) {
		if c.bySubject {
			subject = c.subject(ctx)
		}
		if subject == "" {
			mode = reqPrivate
		}
	}
	if mode == reqPrivate || mode == reqNoStore {
		return c.bypass(ctx, nil)
	}
	kb := c.keys.Get().(*cacheKeyBuf)
	defer c.keys.Put(kb)
	kb.reset(h.RequestURI(), subject)
	kb.addOrigin(ctx.Context(), c.trusted)
	if mode == reqRefresh {
		return c.bypass(ctx, kb)
	}
	now := c.now()
	e, st := c.find(kb, h, now)
	switch st {
	case stateFresh:
		c.stats.hits.Add(1)
		serveEntry(ctx, e, xCacheHit, now)
		return nil
	case stateStaleRevalidate:
		c.stats.stale.Add(1)
		serveEntry(ctx, e, xCacheStale, now)
		c.revalidate(ctx, e, kb)
		return nil
	case statePass:
		return c.pass(ctx, kb)
	}
	if h.IsHead() { // a HEAD answer has no body to store; only GETs fill the cache
		return c.pass(ctx, kb)
	}
	return c.fill(ctx, kb, e)
}

// carriesCredentials reports whether h holds a non-empty value of one of the
// CACHE_PRIVATE_HEADERS. Such a request is answered for whoever those
// credentials name (an X-Api-Key is as personal as an Authorization), so a
// shared entry must neither serve nor store it; RFC 9111 §3.5 says the same
// of Authorization, and an API keyed by its own header deserves no less.
func (c *Cache) carriesCredentials(h *fasthttp.RequestHeader) bool {
	for _, name := range c.private {
		if len(h.PeekBytes(name)) > 0 {
			return true
		}
	}
	return false
}

// find looks kb's key up, following the URL's Vary record to the variant
// that the request header h selects; kb is left holding the key looked up.
// Entries past all their windows are dropped.
func (c *Cache) find(kb *cacheKeyBuf, h *fasthttp.RequestHeader, now time.Time) (*cacheEntry, cacheState) {
	kb.toBase()
	e := c.store.get(kb.b)
	if e != nil && e.kind == kindVary {
		kb.withVary(e.vary, h)
		e = c.store.get(kb.b)
	}
	if e == nil {
		return nil, stateMiss
	}
	st := e.state(now, c.refresher != nil && !c.closed.Load())
	if st == stateMiss {
		c.store.remove(e)
		return nil, stateMiss
	}
	return e, st
}

// bypass sends the request upstream without looking the cache up. With kb
// (a request's no-cache) a cacheable answer is stored, refreshing the entry.
func (c *Cache) bypass(ctx *fiber.Ctx, kb *cacheKeyBuf) error {
	c.stats.bypasses.Add(1)
	err := ctx.Next()
	if err == nil && kb != nil {
		err = c.storeAfter(ctx, kb)
	}
	ctx.Response().Header.Set(headerXCache, xCacheBypass)
	return err
}

// pass sends the request upstream without coalescing, and stores a GET's
// answer if it is cacheable after all.
func (c *Cache) pass(ctx *fiber.Ctx, kb *cacheKeyBuf) error {
	c.stats.misses.Add(1)
	err := ctx.Next()
	if err == nil && ctx.Context().Request.Header.IsGet() {
		err = c.storeAfter(ctx, kb)
	}
	ctx.Response().Header.Set(headerXCache, xCacheMiss)
	return err
}

// storeAfter stores the response the rest of the chain left in ctx.
func (c *Cache) storeAfter(ctx *fiber.Ctx, kb *cacheKeyBuf) error {
	_, err := c.storeAfterEntry(ctx, kb)
	return err
}

// storeAfterEntry is storeAfter returning the entry. When reading a
// streamed body failed, it answers 502 in place of the broken response.
func (c *Cache) storeAfterEntry(ctx *fiber.Ctx, kb *cacheKeyBuf) (*cacheEntry, error) {
	fc := ctx.Context()
	e, err := c.storeResponse(kb, &fc.Request.Header, &fc.Response, c.now())
	if err != nil {
		fc.Response.Header.Reset()
		return nil, apierror.Write(ctx, fiber.StatusBadGateway, msgBodyIncomplete)
	}
	return e, nil
}

// cacheFill is what one upstream fetch yields to the requests coalesced on it.
type cacheFill struct {
	entry *cacheEntry // the stored (or stale-if-error) entry, or nil
	err   error       // the chain's error, for the leader only
}

// fill handles a GET miss: the first request for a key goes upstream, and
// concurrent requests for the same key wait for its result
// (golang.org/x/sync/singleflight), so a cold key reaches the upstream once.
// stale is the entry found expired, for stale-if-error.
func (c *Cache) fill(ctx *fiber.Ctx, kb *cacheKeyBuf, stale *cacheEntry) error {
	led := false
	v, _, _ := c.flights.Do(string(kb.b), func() (any, error) {
		led = true
		return c.lead(ctx, kb, stale), nil
	})
	res := v.(*cacheFill)
	if led {
		return res.err
	}
	c.stats.coalesced.Add(1)
	return c.follow(ctx, kb, res.entry)
}

// lead is the upstream fetch of a coalescing group, run by its first request.
func (c *Cache) lead(ctx *fiber.Ctx, kb *cacheKeyBuf, stale *cacheEntry) *cacheFill {
	h := &ctx.Context().Request.Header
	now := c.now()
	// A group that ended between this request's lookup and its joining
	// may have just stored the answer.
	if e, st := c.find(kb, h, now); st == stateFresh {
		c.stats.hits.Add(1)
		serveEntry(ctx, e, xCacheHit, now)
		return &cacheFill{entry: e}
	}
	c.stats.misses.Add(1)
	resp := ctx.Response()
	var before *fasthttp.ResponseHeader
	if stale.usableOnError(now) {
		before = new(fasthttp.ResponseHeader) // the proxy resets the response on errors
		resp.Header.CopyTo(before)
	}
	err := ctx.Next()
	if before != nil && (err != nil || isUpstreamFailure(resp.StatusCode())) {
		before.CopyTo(&resp.Header)
		c.stats.stale.Add(1)
		serveEntry(ctx, stale, xCacheStale, c.now())
		return &cacheFill{entry: stale}
	}
	res := &cacheFill{err: err}
	if err == nil {
		res.entry, res.err = c.storeAfterEntry(ctx, kb)
	}
	resp.Header.Set(headerXCache, xCacheMiss)
	return res
}

// follow answers a request that waited for another's fetch: from the
// entry it yielded when that entry is this request's variant, else by
// going upstream itself.
func (c *Cache) follow(ctx *fiber.Ctx, kb *cacheKeyBuf, e *cacheEntry) error {
	if e != nil {
		if len(e.vary) > 0 {
			kb.withVary(e.vary, &ctx.Context().Request.Header)
		} else {
			kb.toBase()
		}
		if string(kb.b) == e.key {
			now := c.now()
			if now.Before(e.fresh) {
				c.stats.hits.Add(1)
				serveEntry(ctx, e, xCacheHit, now)
			} else { // the leader's stale-if-error answer
				c.stats.stale.Add(1)
				serveEntry(ctx, e, xCacheStale, now)
			}
			return nil
		}
	}
	return c.pass(ctx, kb)
}
