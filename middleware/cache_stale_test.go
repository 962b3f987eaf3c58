package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"gateway/internal/apierror"
)

// testRefresher answers refreshes with its current body, optionally
// holding each until released, and records what it was asked.
type testRefresher struct {
	calls atomic.Int64
	mu    sync.Mutex
	body  string
	last  RefreshRequest
	gate  chan struct{} // when non-nil, each refresh waits for it or ctx
}

func (r *testRefresher) Refresh(ctx context.Context, req *RefreshRequest, resp *fasthttp.Response) error {
	r.calls.Add(1)
	r.mu.Lock()
	r.last = *req
	body, gate := r.body, r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	resp.Header.Set("Cache-Control", "max-age=10, stale-while-revalidate=30")
	resp.SetBodyString(body)
	return nil
}

func (r *testRefresher) setBody(b string) {
	r.mu.Lock()
	r.body = b
	r.mu.Unlock()
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	clock := newCacheTestClock()
	origin := &cacheOrigin{}
	origin.set(cacheAnswer(200, "v1", "Cache-Control", "max-age=10, stale-while-revalidate=30"))
	ref := &testRefresher{body: "v2"}
	cache, app := newCacheTestApp(t, cacheTestConfig(), origin.handle, WithCacheClock(clock.Now), WithRefresher(ref))

	cacheDo(app, "GET", "/api/svc/r?x=1", "Accept", "text/plain")
	clock.Advance(15 * time.Second)
	r := cacheDo(app, "GET", "/api/svc/r?x=1", "Accept", "text/plain")
	if xCacheOf(r) != "STALE" || string(r.Body()) != "v1" || string(r.Header.Peek("Age")) != "15" {
		t.Fatalf("stale entry: got %s %q Age %q, want STALE v1 Age 15", xCacheOf(r), r.Body(), r.Header.Peek("Age"))
	}
	cacheWaitFor(t, "the background refresh to store", func() bool { return cache.Stats().Stores == 2 })
	ref.mu.Lock()
	last := ref.last
	ref.mu.Unlock()
	if last.Service != "svc" || last.PathQuery != "/r?x=1" || !last.Header.IsGet() || string(last.Header.Peek("Accept")) != "text/plain" {
		t.Fatalf("refresh asked for %q %q method %s accept %q", last.Service, last.PathQuery, last.Header.Method(), last.Header.Peek("Accept"))
	}
	if r := cacheDo(app, "GET", "/api/svc/r?x=1"); xCacheOf(r) != "HIT" || string(r.Body()) != "v2" {
		t.Fatalf("after refresh: got %s %q, want HIT v2", xCacheOf(r), r.Body())
	}
	if origin.calls.Load() != 1 {
		t.Fatalf("origin calls = %d, want 1: the refresh goes through the Refresher", origin.calls.Load())
	}

	// Many requests for one stale entry start one refresh.
	gate := make(chan struct{})
	ref.mu.Lock()
	ref.gate = gate
	ref.mu.Unlock()
	ref.setBody("v3")
	clock.Advance(15 * time.Second)
	before := cache.Stats().Refreshes
	for range 5 {
		if r := cacheDo(app, "GET", "/api/svc/r?x=1"); xCacheOf(r) != "STALE" || string(r.Body()) != "v2" {
			t.Fatalf("got %s %q, want STALE v2", xCacheOf(r), r.Body())
		}
	}
	if got := cache.Stats().Refreshes - before; got != 1 {
		t.Fatalf("%d refreshes for one stale entry, want 1", got)
	}
	close(gate)
	cacheWaitFor(t, "the second refresh", func() bool { return cache.Stats().Stores == 3 })

	// Past the swr window the entry is not served: a foreground miss.
	clock.Advance(41 * time.Second)
	if r := cacheDo(app, "GET", "/api/svc/r?x=1"); xCacheOf(r) != "MISS" || string(r.Body()) != "v1" {
		t.Fatalf("past swr: got %s %q, want MISS v1 from the origin", xCacheOf(r), r.Body())
	}
}

func TestCacheStaleWhileRevalidateNeedsRefresher(t *testing.T) {
	clock := newCacheTestClock()
	origin := &cacheOrigin{}
	origin.set(cacheAnswer(200, "v1", "Cache-Control", "max-age=10, stale-while-revalidate=30"))
	_, app := newCacheTestApp(t, cacheTestConfig(), origin.handle, WithCacheClock(clock.Now))
	cacheDo(app, "GET", "/api/svc/r")
	clock.Advance(15 * time.Second)
	if r := cacheDo(app, "GET", "/api/svc/r"); xCacheOf(r) != "MISS" || origin.calls.Load() != 2 {
		t.Fatalf("without a Refresher: got %s after %d origin calls, want MISS after 2", xCacheOf(r), origin.calls.Load())
	}
}

func TestCacheCloseStopsRefreshes(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	clock := newCacheTestClock()
	origin := &cacheOrigin{}
	origin.set(cacheAnswer(200, "v1", "Cache-Control", "max-age=1, stale-while-revalidate=30"))
	ref := &testRefresher{body: "v2", gate: make(chan struct{})} // never released
	cache, app := newCacheTestApp(t, cacheTestConfig(), origin.handle, WithCacheClock(clock.Now), WithRefresher(ref))
	cacheDo(app, "GET", "/api/svc/r")
	clock.Advance(5 * time.Second)
	cacheDo(app, "GET", "/api/svc/r")
	cacheWaitFor(t, "the refresh to start", func() bool { return ref.calls.Load() == 1 })
	if err := cache.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, leaks)
	if r := cacheDo(app, "GET", "/api/svc/r"); xCacheOf(r) != "MISS" {
		t.Fatalf("after Close a stale entry gave %s, want a foreground MISS", xCacheOf(r))
	}
}

func TestCacheStaleIfError(t *testing.T) {
	tests := []struct {
		name     string
		cc       string
		failWith int
		after    time.Duration
		want     string // X-Cache of the answer to the failing request
		status   int
	}{
		{"503 within window", "max-age=10, stale-if-error=60", 503, 15 * time.Second, "STALE", 200},
		{"502 within window", "max-age=10, stale-if-error=60", 502, 15 * time.Second, "STALE", 200},
		{"504 within window", "max-age=10, stale-if-error=60", 504, 15 * time.Second, "STALE", 200},
		{"500 within window", "max-age=10, stale-if-error=60", 500, 15 * time.Second, "STALE", 200},
		{"404 is an answer, not an error", "max-age=10, stale-if-error=60", 404, 15 * time.Second, "MISS", 404},
		{"past window", "max-age=10, stale-if-error=60", 503, 71 * time.Second, "MISS", 503},
		{"no stale-if-error", "max-age=10", 503, 15 * time.Second, "MISS", 503},
		{"must-revalidate forbids", "max-age=10, stale-if-error=60, must-revalidate", 503, 15 * time.Second, "MISS", 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newCacheTestClock()
			origin := &cacheOrigin{}
			origin.set(cacheAnswer(200, "good", "Cache-Control", tt.cc, "X-Version", "1"))
			_, app := newCacheTestApp(t, cacheTestConfig(), origin.handle, WithCacheClock(clock.Now))
			cacheDo(app, "GET", "/api/svc/e")
			origin.set(func(c *fiber.Ctx) error {
				c.Set("X-Error-Detail", "boom")
				return apierror.WriteRetry(c, tt.failWith, "upstream failed", 5)
			})
			clock.Advance(tt.after)
			r := cacheDo(app, "GET", "/api/svc/e", apierror.HeaderRequestID, "req-2")
			if xCacheOf(r) != tt.want || r.StatusCode() != tt.status {
				t.Fatalf("got %d %s, want %d %s", r.StatusCode(), xCacheOf(r), tt.status, tt.want)
			}
			if tt.want != "STALE" {
				return
			}
			if string(r.Body()) != "good" || string(r.Header.Peek("X-Version")) != "1" || string(r.Header.Peek(apierror.HeaderRequestID)) != "req-2" {
				t.Fatalf("stale answer wrong: %q\n%s", r.Body(), cacheHeaderList(r))
			}
			if len(r.Header.Peek("X-Error-Detail")) > 0 || len(r.Header.Peek("Retry-After")) > 0 {
				t.Fatalf("stale answer carries the error's headers:\n%s", cacheHeaderList(r))
			}
		})
	}
}

func TestCacheStaleIfErrorUpstreamDown(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		_, _ = w.Write([]byte("kept"))
	}))
	clock := newCacheTestClock()
	_, gw := cacheGateway(t, up.Listener.Addr().String(), &cacheGatewayConfig{opts: []CacheOption{WithCacheClock(clock.Now)}})
	client := cacheClient(t)
	cacheGet(t, client, "http://"+gw+"/api/svc/down")
	up.Close() // the proxy now answers 502
	clock.Advance(20 * time.Second)
	resp, body := cacheGet(t, client, "http://"+gw+"/api/svc/down")
	if resp.StatusCode != 200 || body != "kept" || resp.Header.Get("X-Cache") != "STALE" || resp.Header.Get("Age") != "20" {
		t.Fatalf("got %d %q X-Cache %q Age %q, want 200 kept STALE 20", resp.StatusCode, body, resp.Header.Get("X-Cache"), resp.Header.Get("Age"))
	}
	clock.Advance(60 * time.Second)
	if resp, _ := cacheGet(t, client, "http://"+gw+"/api/svc/down"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("past the window got %d, want the proxy's 502", resp.StatusCode)
	}
}
