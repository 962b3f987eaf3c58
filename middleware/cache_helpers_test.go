package middleware

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/config"
	"gateway/internal/apierror"
)

// cacheTestClock is a clock tests move by hand.
type cacheTestClock struct {
	mu  sync.Mutex
	now time.Time
}

func newCacheTestClock() *cacheTestClock {
	return &cacheTestClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *cacheTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *cacheTestClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// cacheOrigin is a counting in-process upstream: a fiber route behind the
// cache that answers what the test sets.
type cacheOrigin struct {
	calls atomic.Int64
	mu    sync.Mutex
	resp  func(c *fiber.Ctx) error
}

func (o *cacheOrigin) set(f func(c *fiber.Ctx) error) {
	o.mu.Lock()
	o.resp = f
	o.mu.Unlock()
}

func (o *cacheOrigin) handle(c *fiber.Ctx) error {
	o.calls.Add(1)
	o.mu.Lock()
	f := o.resp
	o.mu.Unlock()
	return f(c)
}

// cacheAnswer returns an origin response: status, header pairs, body.
func cacheAnswer(status int, body string, header ...string) func(c *fiber.Ctx) error {
	return func(c *fiber.Ctx) error {
		for i := 0; i < len(header); i += 2 {
			c.Response().Header.Add(header[i], header[i+1])
		}
		c.Status(status)
		return c.SendString(body)
	}
}

// cacheTestConfig is a config with the cache on.
func cacheTestConfig() *config.Config {
	cfg := config.Default()
	cfg.CacheEnabled = true
	return cfg
}

// newCacheTestApp mounts request ids, the cache and next on the /api route
// as the app does, and returns the cache and the app.
func newCacheTestApp(t testing.TB, cfg *config.Config, next fiber.Handler, opts ...CacheOption) (*Cache, *fiber.App) {
	t.Helper()
	cache, err := NewCache(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(RequestID(NewRequestIDs()))
	app.Add(fiber.MethodGet, "/api/:service/*", cache.Handler(), next)
	app.Add(fiber.MethodHead, "/api/:service/*", cache.Handler(), next)
	app.Add(fiber.MethodPost, "/api/:service/*", cache.Handler(), next)
	return cache, app
}

// cacheDo runs one request through app's handler in process and returns
// a copy of the response. header holds name, value pairs.
func cacheDo(app *fiber.App, method, uri string, header ...string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for i := 0; i < len(header); i += 2 {
		ctx.Request.Header.Add(header[i], header[i+1])
	}
	app.Handler()(&ctx)
	resp := new(fasthttp.Response)
	ctx.Response.CopyTo(resp)
	return resp
}

// xCacheOf returns the X-Cache of resp.
func xCacheOf(resp *fasthttp.Response) string { return string(resp.Header.Peek(headerXCache)) }

// cacheServe serves app on a loopback listener until the test ends and
// returns its address.
func cacheServe(t testing.TB, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Listener(ln)
	}()
	t.Cleanup(func() {
		_ = app.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

// cacheProxy is a minimal stand-in for the gateway's proxy handler: a
// HostClient with StreamResponseBody, errors mapped to 502 as the real one
// maps them, and the request id restored on the response.
func cacheProxy(addr string) fiber.Handler {
	hc := &fasthttp.HostClient{Addr: addr, StreamResponseBody: true}
	return func(c *fiber.Ctx) error {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		c.Request().Header.CopyTo(&req.Header)
		uri := "http://" + addr + "/" + c.Params("*")
		if q := c.Context().URI().QueryString(); len(q) > 0 {
			uri += "?" + string(q)
		}
		req.SetRequestURI(uri)
		if err := hc.DoTimeout(req, c.Response(), 5*time.Second); err != nil {
			c.Response().Reset()
			return apierror.Write(c, fiber.StatusBadGateway, "upstream unreachable")
		}
		c.Response().Header.SetBytesV(apierror.HeaderRequestID, c.Request().Header.Peek(apierror.HeaderRequestID))
		return nil
	}
}

// cacheWaitFor polls cond until it holds or the deadline passes.
func cacheWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// cacheHeaderList returns resp's header as "Name: value" lines.
func cacheHeaderList(resp *fasthttp.Response) string {
	var b strings.Builder
	for k, v := range resp.Header.All() {
		b.WriteString(string(k) + ": " + string(v) + "\n")
	}
	return b.String()
}
