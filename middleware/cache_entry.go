package middleware

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// cacheEntryKind tells the three things a cache slot can hold apart.
type cacheEntryKind uint8

const (
	kindResponse cacheEntryKind = iota // a stored response
	kindVary                           // the per-URL list of Vary names (as Varnish and Caddy keep it)
	kindPass                           // "hit-for-miss": this URL was not cacheable; go upstream without coalescing
)

// cacheEntryOverhead is charged to every entry on top of its bytes, for the
// struct, the LRU node and the map slot, so many tiny entries still count.
const cacheEntryOverhead = 256

// cacheEntry is one immutable slot of the cache, shared by every request
// that reads it; only refreshing changes after it is stored. It holds its
// own copies of the bytes, never fasthttp's reused buffers.
type cacheEntry struct {
	key    string
	kind   cacheEntryKind
	status int
	header []cacheHeader // end-to-end response fields, in arrival order
	body   []byte
	vary   []string // the response's Vary names: lowercase, sorted

	stored  time.Time     // when the response was generated: arrival minus the upstream's Age
	fresh   time.Time     // end of freshness: stored + freshness lifetime
	swr     time.Duration // stale-while-revalidate window after fresh
	sie     time.Duration // stale-if-error window after fresh
	expires time.Time     // after this the entry is useless and dropped
	size    int64         // bytes counted against CACHE_MAX_BYTES

	refreshing atomic.Bool // a background refresh of this entry is running
}

// cacheHeader is one stored header field.
type cacheHeader struct{ key, value []byte }

// cacheState is what an entry is good for at a given moment.
type cacheState uint8

const (
	stateMiss            cacheState = iota // nothing usable
	stateFresh                             // answer from it
	stateStaleRevalidate                   // answer from it and refresh it in the background
	stateStale                             // go upstream; answer from it if that fails (stale-if-error)
	statePass                              // go upstream without coalescing
)

// state classifies e at now; canRevalidate says whether a background
// refresh is possible (a Refresher is set and the cache is open).
func (e *cacheEntry) state(now time.Time, canRevalidate bool) cacheState {
	switch {
	case !now.Before(e.expires):
		return stateMiss
	case e.kind == kindPass:
		return statePass
	case now.Before(e.fresh):
		return stateFresh
	case canRevalidate && now.Before(e.fresh.Add(e.swr)):
		return stateStaleRevalidate
	}
	return stateStale
}

// usableOnError reports whether e may answer for a failed upstream at now.
func (e *cacheEntry) usableOnError(now time.Time) bool {
	return e != nil && e.kind == kindResponse && now.Before(e.fresh.Add(e.sie))
}

// Header values the cache writes itself.
const (
	headerXCache = "X-Cache"
	xCacheHit    = "HIT"
	xCacheMiss   = "MISS"
	xCacheBypass = "BYPASS"
	xCacheStale  = "STALE"
)

// serveEntry answers from e: its status, its headers added to those earlier
// middleware set (x-request-id, RateLimit-*), Age and X-Cache, and its body
// without copying it (entries are immutable).
func serveEntry(c *fiber.Ctx, e *cacheEntry, xcache string, now time.Time) {
	resp := c.Response()
	resp.SetStatusCode(e.status)
	for i := range e.header {
		resp.Header.AddBytesKV(e.header[i].key, e.header[i].value)
	}
	var buf [20]byte
	resp.Header.SetBytesV(fasthttp.HeaderAge, strconv.AppendInt(buf[:0], int64(max(now.Sub(e.stored), 0)/time.Second), 10))
	resp.Header.Set(headerXCache, xcache)
	resp.SetBodyRaw(e.body)
}

// skippedHeaders are never stored: hop-by-hop fields (RFC 9110 §7.6.1),
// framing that fasthttp writes itself, fields the gateway sets per request,
// and per-client fields that must not be shared (Set-Cookie is never even
// stored, and RateLimit-* describe the client that caused the miss).
var skippedHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Content-Length", "Date", "Age", headerXCache, "X-Request-Id", "Set-Cookie",
}

// storedHeader reports whether the field named k is kept in an entry;
// connection holds the response's Connection value, whose tokens are hop-by-hop.
func storedHeader(k, connection []byte) bool {
	for _, s := range skippedHeaders {
		if len(k) == len(s) && bytes.EqualFold(k, []byte(s)) {
			return false
		}
	}
	if hasFoldPrefix(k, "ratelimit") || hasFoldPrefix(k, "x-ratelimit") {
		return false
	}
	for tok := range bytes.SplitSeq(connection, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(tok), k) {
			return false
		}
	}
	return true
}

// hasFoldPrefix reports whether b begins with prefix, ignoring ASCII case.
func hasFoldPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// copyStoredHeaders copies the fields worth storing out of h into one arena.
func copyStoredHeaders(h *fasthttp.ResponseHeader) (fields []cacheHeader, size int) {
	connection := bytes.Clone(h.Peek(fasthttp.HeaderConnection))
	n := 0
	for k, v := range h.All() {
		if storedHeader(k, connection) {
			n++
			size += len(k) + len(v)
		}
	}
	arena := make([]byte, 0, size)
	fields = make([]cacheHeader, 0, n)
	for k, v := range h.All() {
		if !storedHeader(k, connection) {
			continue
		}
		start := len(arena)
		arena = append(arena, k...)
		mid := len(arena)
		arena = append(arena, v...)
		fields = append(fields, cacheHeader{key: arena[start:mid:mid], value: arena[mid:len(arena):len(arena)]})
	}
	return fields, size
}

// errBodyLength reports an upstream body that did not match its Content-Length.
var errBodyLength = errors.New("upstream body length differs from Content-Length")

// takeBody returns a private copy of resp's body, whose size judge has
// already bounded. A streamed body (the proxy's HostClient streams) is read
// to its end, so the connection goes back to the pool, and the response then
// serves the same bytes from memory. On a read error the stream is closed,
// which discards the upstream connection.
func takeBody(resp *fasthttp.Response) ([]byte, error) {
	if !resp.IsBodyStream() {
		return bytes.Clone(resp.Body()), nil
	}
	n := resp.Header.ContentLength()
	buf := make([]byte, n+1) // one spare byte to see EOF, which marks the stream fully read
	total := 0
	for total < len(buf) {
		m, err := resp.BodyStream().Read(buf[total:])
		total += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = resp.CloseBodyStream()
			return nil, err
		}
	}
	if total != n {
		_ = resp.CloseBodyStream()
		return nil, errBodyLength
	}
	body := buf[:n:n]
	resp.SetBodyRaw(body) // closes the drained stream
	return body, nil
}
