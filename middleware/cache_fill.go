package middleware

import (
	"slices"
	"time"

	"github.com/valyala/fasthttp"
)

// storeVerdict is what the cache does with an upstream response.
type storeVerdict uint8

const (
	verdictSkip  storeVerdict = iota // not stored, nothing remembered (an error status, say: transient)
	verdictPass                      // not cacheable by its own headers: remember that for a while
	verdictStore                     // store it
)

// responseMeta is what judge learned from a response's headers.
type responseMeta struct {
	d        cacheDirectives
	lifetime time.Duration
	age      time.Duration
	vary     []string
	star     bool
}

// judge applies issue 5's rules to a response, from its headers alone, so a
// response that will not be stored keeps its body stream untouched.
func (c *Cache) judge(resp *fasthttp.Response, now time.Time) (storeVerdict, responseMeta) {
	h := &resp.Header
	var m responseMeta
	if !cacheableStatus(resp.StatusCode()) {
		return verdictSkip, m
	}
	m.vary, m.star = parseVary(h)
	if len(h.Peek(fasthttp.HeaderSetCookie)) > 0 || m.star {
		return verdictPass, m
	}
	m.d = responseDirectives(h)
	if m.d.noStore || m.d.noCache || m.d.private {
		return verdictPass, m
	}
	m.lifetime = freshnessLifetime(&m.d, h, now, c.defaultTTL)
	m.age = initialAge(h)
	if m.lifetime <= m.age && m.d.staleWhileRevalidate == 0 && m.d.staleIfError == 0 {
		return verdictPass, m // stale on arrival and no use stale
	}
	if resp.IsBodyStream() {
		if n := h.ContentLength(); n < 0 || n > c.maxBody {
			return verdictPass, m // unknown or too large: keep streaming
		}
	} else if len(resp.Body()) > c.maxBody {
		return verdictPass, m
	}
	return verdictStore, m
}

// storeResponse stores resp, the answer to the request whose key is in kb
// and whose header is req, if issue 5's rules allow. It returns the entry
// (even when it was too large for its shard, so coalesced requests can use
// it) or nil, and an error only when reading a streamed body failed.
func (c *Cache) storeResponse(kb *cacheKeyBuf, req *fasthttp.RequestHeader, resp *fasthttp.Response, now time.Time) (*cacheEntry, error) {
	v, m := c.judge(resp, now)
	switch v {
	case verdictSkip:
		return nil, nil
	case verdictPass:
		c.putPass(kb, &m, req, now)
		return nil, nil
	}
	body, err := takeBody(resp)
	if err != nil {
		return nil, err
	}
	header, hsize := copyStoredHeaders(&resp.Header)
	stored := now.Add(-m.age)
	fresh := stored.Add(m.lifetime)
	e := &cacheEntry{
		kind: kindResponse, status: resp.StatusCode(), header: header, body: body, vary: m.vary,
		stored: stored, fresh: fresh, swr: m.d.staleWhileRevalidate, sie: m.d.staleIfError,
		expires: fresh.Add(max(m.d.staleWhileRevalidate, m.d.staleIfError)),
	}
	c.selectVariant(kb, m.vary, req)
	e.key = string(kb.b)
	e.size = int64(len(e.key)+len(body)+hsize+varySize(m.vary)) + cacheEntryOverhead
	if c.store.put(e) {
		c.stats.stores.Add(1)
	}
	return e, nil
}

// putPass remembers for passTTL that this URL (or, under Vary, this
// variant) was not cacheable, so its requests go upstream at once instead
// of queueing behind one another in the coalescing group. A cacheable
// answer replaces the marker (Varnish's "hit-for-miss").
func (c *Cache) putPass(kb *cacheKeyBuf, m *responseMeta, req *fasthttp.RequestHeader, now time.Time) {
	if m.star {
		kb.toBase()
	} else {
		c.selectVariant(kb, m.vary, req)
	}
	until := now.Add(c.passTTL)
	e := &cacheEntry{kind: kindPass, key: string(kb.b), fresh: until, expires: until}
	e.size = int64(len(e.key)) + cacheEntryOverhead
	c.store.put(e)
}

// selectVariant points kb at the slot for a response with these Vary
// names: the URL's own slot when there are none, else the variant's slot,
// after recording the names in the URL's slot for later lookups.
func (c *Cache) selectVariant(kb *cacheKeyBuf, vary []string, req *fasthttp.RequestHeader) {
	kb.toBase()
	if len(vary) == 0 {
		return
	}
	if cur := c.store.get(kb.b); cur == nil || cur.kind != kindVary || !slices.Equal(cur.vary, vary) {
		rec := &cacheEntry{kind: kindVary, key: string(kb.b), vary: vary}
		rec.size = int64(len(rec.key)+varySize(vary)) + cacheEntryOverhead
		c.store.put(rec)
	}
	kb.withVary(vary, req)
}

// varySize is the bytes a Vary list holds.
func varySize(vary []string) int {
	n := 0
	for _, s := range vary {
		n += len(s)
	}
	return n
}
