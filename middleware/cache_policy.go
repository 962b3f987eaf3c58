package middleware

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// cacheDirectives is what the cache reads from Cache-Control (RFC 9111 §5.2).
// Durations are -1 when the directive is absent.
type cacheDirectives struct {
	noStore, noCache, private, mustRevalidate bool
	maxAge, sMaxAge                           time.Duration
	staleWhileRevalidate, staleIfError        time.Duration // RFC 5861; 0 when absent
}

// maxDeltaSeconds caps delta-seconds at 2^31 as RFC 9111 §1.2.2 asks.
const maxDeltaSeconds = 1 << 31

// parseCacheControl adds the directives in one Cache-Control field value to d.
// Unknown directives are ignored; a malformed max-age or s-maxage counts as
// 0, which RFC 9111 §4.2.1 asks for ("consider the response stale").
func parseCacheControl(d *cacheDirectives, v []byte) {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		name, arg := item, []byte(nil)
		if i := bytes.IndexByte(item, '='); i >= 0 {
			name, arg = item[:i], bytes.Trim(bytes.TrimSpace(item[i+1:]), `"`)
		}
		d.apply(bytes.TrimSpace(name), arg)
	}
}

// apply records one directive.
func (d *cacheDirectives) apply(name, arg []byte) {
	switch {
	case bytes.EqualFold(name, []byte("no-store")):
		d.noStore = true
	case bytes.EqualFold(name, []byte("no-cache")):
		d.noCache = true // with or without field names: the conservative reading
	case bytes.EqualFold(name, []byte("private")):
		d.private = true
	case bytes.EqualFold(name, []byte("must-revalidate")), bytes.EqualFold(name, []byte("proxy-revalidate")):
		d.mustRevalidate = true
	case bytes.EqualFold(name, []byte("max-age")):
		d.maxAge = parseDeltaSeconds(arg)
	case bytes.EqualFold(name, []byte("s-maxage")):
		d.sMaxAge = parseDeltaSeconds(arg)
	case bytes.EqualFold(name, []byte("stale-while-revalidate")):
		d.staleWhileRevalidate = parseDeltaSeconds(arg)
	case bytes.EqualFold(name, []byte("stale-if-error")):
		d.staleIfError = parseDeltaSeconds(arg)
	}
}

// parseDeltaSeconds parses RFC 9111 delta-seconds; anything else is 0.
func parseDeltaSeconds(b []byte) time.Duration {
	if len(b) == 0 {
		return 0
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0
		}
		if n = n*10 + int64(ch-'0'); n > maxDeltaSeconds {
			n = maxDeltaSeconds
		}
	}
	return time.Duration(n) * time.Second
}

// responseDirectives reads every Cache-Control field of a response.
func responseDirectives(h *fasthttp.ResponseHeader) cacheDirectives {
	d := cacheDirectives{maxAge: -1, sMaxAge: -1}
	for _, v := range h.PeekAll(fasthttp.HeaderCacheControl) {
		parseCacheControl(&d, v)
	}
	if d.mustRevalidate { // RFC 9111 §5.2.2.2: never serve stale, RFC 5861 §4
		d.staleWhileRevalidate, d.staleIfError = 0, 0
	}
	return d
}

// requestMode is what a request's own headers ask of the cache.
type requestMode uint8

const (
	reqLookup  requestMode = iota // an ordinary GET or HEAD
	reqPrivate                    // carries credentials and no subject key: bypass, never store
	reqRefresh                    // no-cache or max-age=0: bypass, but store the fresh answer
	reqNoStore                    // no-store: bypass and store nothing
)

// requestCacheMode reads the request's Cache-Control (or, without one, the
// legacy Pragma: no-cache of RFC 9111 §5.4). It does not allocate.
func requestCacheMode(h *fasthttp.RequestHeader) requestMode {
	v := h.Peek(fasthttp.HeaderCacheControl)
	if len(v) == 0 {
		if bytes.Contains(h.Peek(fasthttp.HeaderPragma), []byte("no-cache")) {
			return reqRefresh
		}
		return reqLookup
	}
	d := cacheDirectives{maxAge: -1, sMaxAge: -1}
	parseCacheControl(&d, v)
	switch {
	case d.noStore:
		return reqNoStore
	case d.noCache, d.maxAge == 0:
		return reqRefresh
	}
	return reqLookup
}

// cacheableStatus reports whether a status may be stored: the list of
// issue 5, the heuristically cacheable codes of RFC 9110 §15.1 that a
// gateway sees (no 206: the cache does not do ranges; no 405/414/501:
// answered by the gateway or upstream cheaply and rarely repeated).
func cacheableStatus(s int) bool {
	switch s {
	case 200, 203, 204, 300, 301, 404, 410:
		return true
	}
	return false
}

// isUpstreamFailure reports whether a status is the "error" of RFC 5861 §4
// that lets stale-if-error answer instead: 500, 502, 503 and 504, the last
// three being what the proxy answers when every upstream of a service fails.
func isUpstreamFailure(s int) bool {
	return s == 500 || s == 502 || s == 503 || s == 504
}

// freshnessLifetime is how long a response stays fresh (RFC 9111 §4.2.1):
// s-maxage, else max-age, else Expires minus Date (or now), else def.
func freshnessLifetime(d *cacheDirectives, h *fasthttp.ResponseHeader, now time.Time, def time.Duration) time.Duration {
	switch {
	case d.sMaxAge >= 0:
		return d.sMaxAge
	case d.maxAge >= 0:
		return d.maxAge
	}
	exp := h.Peek(fasthttp.HeaderExpires)
	if len(exp) == 0 {
		return def
	}
	t, err := fasthttp.ParseHTTPDate(exp)
	if err != nil {
		return 0 // RFC 9111 §5.3: an invalid Expires means already expired
	}
	base := now
	if date, err := fasthttp.ParseHTTPDate(h.Peek(fasthttp.HeaderDate)); err == nil {
		base = date
	}
	return max(t.Sub(base), 0)
}

// initialAge is the Age the upstream reported, so an entry's age counts
// time already spent in caches further upstream (RFC 9111 §4.2.3).
func initialAge(h *fasthttp.ResponseHeader) time.Duration {
	return parseDeltaSeconds(bytes.TrimSpace(h.Peek(fasthttp.HeaderAge)))
}
