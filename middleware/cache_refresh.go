package middleware

import (
	"bytes"
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/internal/apierror"
	"gateway/internal/forwarded"
)

// RefreshRequest is the background GET that refreshes a stale entry.
type RefreshRequest struct {
	// Service is the :service segment of the client's path.
	Service string
	// PathQuery is what the upstream would be asked for: "/" + the rest of
	// the client's path, and its query, raw as the client sent them.
	PathQuery string
	// Header is the header of the request that met the stale entry, method
	// set to GET, with X-Forwarded-For, -Proto and -Host already replaced by
	// forwarded.Set from the gateway's own view of that client, as the proxy
	// does for a client request: an untrusted client's forwarding values
	// never reach the upstream through a refresh whose answer everyone then
	// gets. Hop-by-hop fields are still in it, for the Refresher to remove as
	// the proxy does; it owns the header and may change it.
	Header *fasthttp.RequestHeader
	// TriggerID is the request id of the request that met the stale entry.
	// The refresh is a request of its own and gets its own id; this one is
	// for its log line, to tell which request caused it.
	TriggerID string
}

// Refresher fetches a fresh response for stale-while-revalidate (RFC 5861
// §3), outside any client request and so without a fiber.Ctx. The app
// implements it with the proxy's upstream pool. Refresh fills resp (status,
// headers, body; a streamed body is fine) and returns an error when no
// upstream answered; ctx ends when the Cache is closed.
type Refresher interface {
	Refresh(ctx context.Context, req *RefreshRequest, resp *fasthttp.Response) error
}

// RefreshFunc adapts a function to Refresher.
type RefreshFunc func(ctx context.Context, req *RefreshRequest, resp *fasthttp.Response) error

// Refresh calls f.
func (f RefreshFunc) Refresh(ctx context.Context, req *RefreshRequest, resp *fasthttp.Response) error {
	return f(ctx, req, resp)
}

// cacheRefresh is one background refresh: the stale entry and what is
// needed to fetch and store its replacement, copied off the request.
type cacheRefresh struct {
	stale *cacheEntry
	base  []byte                  // the URL part of the key (URI, subject, origin)
	vary  *fasthttp.RequestHeader // the client's header as it was, which picks the Vary variant
	req   RefreshRequest
}

// revalidate starts one background refresh of e, unless one is running,
// the cache is closed, or all refresh slots are busy (a later request will
// try again). It copies what it needs from ctx, which dies with the request.
func (c *Cache) revalidate(ctx *fiber.Ctx, e *cacheEntry, kb *cacheKeyBuf) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	select {
	case c.refreshing <- struct{}{}:
	default:
		e.refreshing.Store(false)
		return
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		<-c.refreshing
		e.refreshing.Store(false)
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	c.stats.refreshes.Add(1)

	go c.runRefresh(c.refreshJob(ctx.Context(), e, kb))
}

// refreshJob copies off the request in fc what a background refresh of e
// needs: the key, the client's header for the Vary variant, and the header
// bound upstream with the forwarding fields the gateway itself would send.
func (c *Cache) refreshJob(fc *fasthttp.RequestCtx, e *cacheEntry, kb *cacheKeyBuf) *cacheRefresh {
	job := &cacheRefresh{stale: e, base: bytes.Clone(kb.b[:kb.base]), vary: new(fasthttp.RequestHeader)}
	fc.Request.Header.CopyTo(job.vary)
	job.req.Header = new(fasthttp.RequestHeader)
	fc.Request.Header.CopyTo(job.req.Header)
	job.req.Header.SetMethod(fasthttp.MethodGet)
	forwarded.Set(job.req.Header, fc, c.trusted)
	job.req.TriggerID = string(fc.Request.Header.Peek(apierror.HeaderRequestID))
	job.req.Service, job.req.PathQuery = splitServicePath(job.req.Header.RequestURI())
	return job
}

// runRefresh fetches and stores the replacement of job.stale. The stale
// entry stays until a cacheable answer replaces it; after a failure its
// flag is cleared so a later request can try again.
func (c *Cache) runRefresh(job *cacheRefresh) {
	defer c.wg.Done()
	defer func() { <-c.refreshing }()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	err := c.refresher.Refresh(c.ctx, &job.req, resp)
	if err != nil || isUpstreamFailure(resp.StatusCode()) {
		job.stale.refreshing.Store(false)
		return
	}
	kb := &cacheKeyBuf{b: job.base, base: len(job.base)}
	if e, err := c.storeResponse(kb, job.vary, resp, c.now()); e == nil || err != nil {
		job.stale.refreshing.Store(false)
	}
}

// splitServicePath splits a raw /api/:service/* request URI into the
// service and the upstream path and query: "/api/users/x?q=1" gives
// "users" and "/x?q=1". An absolute-form URI's scheme and host are skipped.
func splitServicePath(uri []byte) (service, pathQuery string) {
	if i := bytes.Index(uri, []byte("://")); i >= 0 && i < bytes.IndexByte(uri, '/') {
		uri = uri[i+3:]
		if j := bytes.IndexByte(uri, '/'); j >= 0 {
			uri = uri[j:]
		} else {
			uri = nil
		}
	}
	uri = bytes.TrimPrefix(uri, []byte("/"))
	if i := bytes.IndexAny(uri, "/?"); i >= 0 && uri[i] == '/' {
		uri = uri[i+1:] // past the mount segment ("api")
	} else {
		return "", "/"
	}
	end := bytes.IndexAny(uri, "/?")
	if end < 0 {
		return string(uri), "/"
	}
	rest := uri[end:]
	if rest[0] == '?' {
		return string(uri[:end]), "/" + string(rest)
	}
	return string(uri[:end]), string(rest)
}
