package middleware

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/apierror"
)

// TestCacheRules sends each request twice through the cache to a counting
// origin and checks what the cache made of it.
func TestCacheRules(t *testing.T) {
	big := strings.Repeat("x", 2000)
	tests := []struct {
		name       string
		method     string
		reqHeader  []string
		status     int
		body       string
		respHeader []string
		wantFirst  string // X-Cache of the first answer
		wantSecond string // X-Cache of the second
		wantCalls  int64  // origin calls for the two requests
	}{
		{name: "200 stored", status: 200, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "203 stored", status: 203, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "204 stored", status: 204, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "300 stored", status: 300, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "301 stored", status: 301, respHeader: []string{"Location", "/x"}, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "404 stored", status: 404, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "410 stored", status: 410, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "201 not stored", status: 201, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "302 not stored", status: 302, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "500 not stored", status: 500, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "Set-Cookie", status: 200, respHeader: []string{"Set-Cookie", "a=b"}, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "no-store", status: 200, respHeader: []string{"Cache-Control", "no-store"}, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "private", status: 200, respHeader: []string{"Cache-Control", "private, max-age=60"}, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "no-cache", status: 200, respHeader: []string{"Cache-Control", "no-cache"}, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "max-age=0", status: 200, respHeader: []string{"Cache-Control", "max-age=0"}, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "Vary star", status: 200, respHeader: []string{"Vary", "*"}, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "body over max", status: 200, body: big + "x", wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
		{name: "body at max", status: 200, body: big, wantFirst: "MISS", wantSecond: "HIT", wantCalls: 1},
		{name: "Authorization bypasses", reqHeader: []string{"Authorization", "Bearer x"}, status: 200, wantFirst: "BYPASS", wantSecond: "BYPASS", wantCalls: 2},
		{name: "Cookie bypasses", reqHeader: []string{"Cookie", "a=b"}, status: 200, wantFirst: "BYPASS", wantSecond: "BYPASS", wantCalls: 2},
		{name: "request no-cache bypasses", reqHeader: []string{"Cache-Control", "no-cache"}, status: 200, wantFirst: "BYPASS", wantSecond: "BYPASS", wantCalls: 2},
		{name: "request no-store bypasses", reqHeader: []string{"Cache-Control", "no-store"}, status: 200, wantFirst: "BYPASS", wantSecond: "BYPASS", wantCalls: 2},
		{name: "POST bypasses", method: "POST", status: 200, wantFirst: "BYPASS", wantSecond: "BYPASS", wantCalls: 2},
		{name: "HEAD alone not stored", method: "HEAD", status: 200, wantFirst: "MISS", wantSecond: "MISS", wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cacheTestConfig()
			cfg.CacheMaxBodyBytes = len(big)
			origin := &cacheOrigin{}
			origin.set(cacheAnswer(tt.status, tt.body, tt.respHeader...))
			_, app := newCacheTestApp(t, cfg, origin.handle)
			method := tt.method
			if method == "" {
				method = fiber.MethodGet
			}
			first := cacheDo(app, method, "/api/svc/item?id=1", tt.reqHeader...)
			second := cacheDo(app, method, "/api/svc/item?id=1", tt.reqHeader...)
			if got := xCacheOf(first); got != tt.wantFirst {
				t.Errorf("first X-Cache = %q, want %q", got, tt.wantFirst)
			}
			if got := xCacheOf(second); got != tt.wantSecond {
				t.Errorf("second X-Cache = %q, want %q", got, tt.wantSecond)
			}
			if got := origin.calls.Load(); got != tt.wantCalls {
				t.Errorf("origin calls = %d, want %d", got, tt.wantCalls)
			}
			if second.StatusCode() != tt.status || (method != "HEAD" && string(second.Body()) != tt.body) {
				t.Errorf("second answer %d %q, want %d %q", second.StatusCode(), second.Body(), tt.status, tt.body)
			}
		})
	}
}

func TestCacheKeyIncludesQuery(t *testing.T) {
	origin := &cacheOrigin{}
	origin.set(func(c *fiber.Ctx) error { return c.SendString(c.Query("id")) })
	_, app := newCacheTestApp(t, cacheTestConfig(), origin.handle)
	for _, tc := range []struct{ uri, body, xc string }{
		{"/api/svc/item?id=1", "1", "MISS"},
		{"/api/svc/item?id=2", "2", "MISS"},
		{"/api/svc/item?id=1", "1", "HIT"},
		{"/api/other/item?id=1", "1", "MISS"},
	} {
		resp := cacheDo(app, "GET", tc.uri)
		if string(resp.Body()) != tc.body || xCacheOf(resp) != tc.xc {
			t.Errorf("GET %s = %q %s, want %q %s", tc.uri, resp.Body(), xCacheOf(resp), tc.body, tc.xc)
		}
	}
}

func TestCacheHeadServedFromGet(t *testing.T) {
	origin := &cacheOrigin{}
	origin.set(cacheAnswer(200, "hello", "Content-Type", "text/plain", "ETag", `"1"`))
	_, app := newCacheTestApp(t, cacheTestConfig(), origin.handle)
	cacheDo(app, "GET", "/api/svc/a")
	head := cacheDo(app, "HEAD", "/api/svc/a")
	if xCacheOf(head) != "HIT" || origin.calls.Load() != 1 || string(head.Header.Peek("ETag")) != `"1"` {
		t.Fatalf("HEAD after GET: X-Cache %q, calls %d, header:\n%s", xCacheOf(head), origin.calls.Load(), cacheHeaderList(head))
	}
}

func TestCacheHitKeepsOwnRequestID(t *testing.T) {
	origin := &cacheOrigin{}
	origin.set(cacheAnswer(200, "v", "X-Upstream", "1"))
	_, app := newCacheTestApp(t, cacheTestConfig(), origin.handle)
	cacheDo(app, "GET", "/api/svc/a", apierror.HeaderRequestID, "first-id")
	hit := cacheDo(app, "GET", "/api/svc/a", apierror.HeaderRequestID, "second-id")
	if xCacheOf(hit) != "HIT" {
		t.Fatalf("X-Cache = %q, want HIT", xCacheOf(hit))
	}
	if ids := hit.Header.PeekAll(apierror.HeaderRequestID); len(ids) != 1 || string(ids[0]) != "second-id" {
		t.Fatalf("hit x-request-id = %q, want only second-id; header:\n%s", ids, cacheHeaderList(hit))
	}
	if string(hit.Header.Peek("X-Upstream")) != "1" || string(hit.Header.Peek("Age")) != "0" {
		t.Fatalf("hit lacks stored header or Age:\n%s", cacheHeaderList(hit))
	}
}

func TestCacheRequestNoCacheRefreshesEntry(t *testing.T) {
	origin := &cacheOrigin{}
	origin.set(cacheAnswer(200, "v1"))
	_, app := newCacheTestApp(t, cacheTestConfig(), origin.handle)
	cacheDo(app, "GET", "/api/svc/a")
	origin.set(cacheAnswer(200, "v2"))
	if r := cacheDo(app, "GET", "/api/svc/a", "Cache-Control", "no-cache"); string(r.Body()) != "v2" || xCacheOf(r) != "BYPASS" {
		t.Fatalf("no-cache request got %q %s, want v2 BYPASS", r.Body(), xCacheOf(r))
	}
	if r := cacheDo(app, "GET", "/api/svc/a"); string(r.Body()) != "v2" || xCacheOf(r) != "HIT" {
		t.Fatalf("after refresh got %q %s, want v2 HIT", r.Body(), xCacheOf(r))
	}
}

func TestCacheVary(t *testing.T) {
	origin := &cacheOrigin{}
	origin.set(func(c *fiber.Ctx) error {
		c.Set("Vary", "Accept-Encoding")
		return c.SendString("enc=" + c.Get("Accept-Encoding"))
	})
	cache, app := newCacheTestApp(t, cacheTestConfig(), origin.handle)
	steps := []struct{ enc, body, xc string }{
		{"gzip", "enc=gzip", "MISS"},
		{"gzip", "enc=gzip", "HIT"},
		{"br", "enc=br", "MISS"},
		{"br", "enc=br", "HIT"},
		{"gzip", "enc=gzip", "HIT"},
		{"", "enc=", "MISS"},
	}
	for i, s := range steps {
		var hdr []string
		if s.enc != "" {
			hdr = []string{"Accept-Encoding", s.enc}
		}
		r := cacheDo(app, "GET", "/api/svc/v", hdr...)
		if string(r.Body()) != s.body || xCacheOf(r) != s.xc {
			t.Fatalf("step %d (%q): got %q %s, want %q %s", i, s.enc, r.Body(), xCacheOf(r), s.body, s.xc)
		}
	}
	if got := origin.calls.Load(); got != 3 {
		t.Fatalf("origin calls = %d, want 3", got)
	}
	if st := cache.Stats(); st.Entries != 4 { // one Vary record, three variants
		t.Fatalf("entries = %d, want 4", st.Entries)
	}
}

func TestCachePrivateBySubject(t *testing.T) {
	origin := &cacheOrigin{}
	origin.set(func(c *fiber.Ctx) error { return c.SendString("for " + c.Get("X-Test-Subject")) })
	cfg := cacheTestConfig()
	cfg.CachePrivateBySubject = true
	subject := WithSubject(func(c *fiber.Ctx) string { return c.Get("X-Test-Subject") })
	_, app := newCacheTestApp(t, cfg, origin.handle, subject)
	steps := []struct{ sub, body, xc string }{
		{"alice", "for alice", "MISS"},
		{"alice", "for alice", "HIT"},
		{"bob", "for bob", "MISS"},
		{"bob", "for bob", "HIT"},
		{"", "for ", "BYPASS"}, // credentials but no subject
	}
	for i, s := range steps {
		r := cacheDo(app, "GET", "/api/svc/me", "Authorization", "Bearer t", "X-Test-Subject", s.sub)
		if string(r.Body()) != s.body || xCacheOf(r) != s.xc {
			t.Fatalf("step %d (%q): got %q %s, want %q %s", i, s.sub, r.Body(), xCacheOf(r), s.body, s.xc)
		}
	}
	if r := cacheDo(app, "GET", "/api/svc/me"); xCacheOf(r) != "MISS" {
		t.Fatalf("anonymous request got %s, want MISS (private entries are not shared)", xCacheOf(r))
	}
}

func TestCacheTTL(t *testing.T) {
	date := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	tests := []struct {
		name        string
		header      func(now time.Time) []string
		hitAt, miss time.Duration // still fresh at hitAt, expired at miss
		wantAge     string        // Age of the hit at hitAt
	}{
		{"default ttl", func(time.Time) []string { return nil }, 29 * time.Second, 30 * time.Second, "29"},
		{"max-age", func(time.Time) []string { return []string{"Cache-Control", "max-age=10"} }, 9 * time.Second, 10 * time.Second, "9"},
		{"s-maxage over max-age", func(time.Time) []string { return []string{"Cache-Control", "max-age=100, s-maxage=5"} }, 4 * time.Second, 5 * time.Second, "4"},
		{"Expires", func(now time.Time) []string { return []string{"Expires", date(now.Add(20 * time.Second))} }, 19 * time.Second, 20 * time.Second, "19"},
		{"upstream Age counts", func(time.Time) []string { return []string{"Cache-Control", "max-age=10", "Age", "4"} }, 5 * time.Second, 6 * time.Second, "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newCacheTestClock()
			cfg := cacheTestConfig()
			cfg.CacheDefaultTTL = 30 * time.Second
			origin := &cacheOrigin{}
			origin.set(cacheAnswer(200, "v", tt.header(clock.Now())...))
			_, app := newCacheTestApp(t, cfg, origin.handle, WithCacheClock(clock.Now))
			cacheDo(app, "GET", "/api/svc/t")
			clock.Advance(tt.hitAt)
			r := cacheDo(app, "GET", "/api/svc/t")
			if xCacheOf(r) != "HIT" || string(r.Header.Peek("Age")) != tt.wantAge {
				t.Fatalf("at %v: X-Cache %q Age %q, want HIT %s", tt.hitAt, xCacheOf(r), r.Header.Peek("Age"), tt.wantAge)
			}
			clock.Advance(tt.miss - tt.hitAt)
			if r := cacheDo(app, "GET", "/api/svc/t"); xCacheOf(r) != "MISS" {
				t.Fatalf("at %v: X-Cache %q, want MISS", tt.miss, xCacheOf(r))
			}
			if origin.calls.Load() != 2 {
				t.Fatalf("origin calls = %d, want 2", origin.calls.Load())
			}
		})
	}
}
