package middleware

import (
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// benchCacheApp returns the app's handler with one entry stored for uri.
func benchCacheApp(b *testing.B, uri string, header ...string) fasthttp.RequestHandler {
	origin := cacheAnswer(200, strings.Repeat("b", 512), append([]string{
		"Content-Type", "application/json", "Cache-Control", "max-age=3600", "ETag", `"x"`,
	}, header...)...)
	_, app := newCacheTestApp(b, cacheTestConfig(), origin)
	h := app.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.Set("Accept-Encoding", "gzip")
	h(&ctx)
	return h
}

// benchCacheHits runs hits on one RequestCtx, reset between requests the
// way fasthttp's server resets it.
func benchCacheHits(b *testing.B, h fasthttp.RequestHandler, uri string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.Set("Accept-Encoding", "gzip")
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
		if string(ctx.Response.Header.Peek(headerXCache)) != xCacheHit {
			b.Fatalf("X-Cache %q", ctx.Response.Header.Peek(headerXCache))
		}
	}
}

// BenchmarkCacheHit measures a hit through Fiber: request id, cache, answer.
func BenchmarkCacheHit(b *testing.B) {
	h := benchCacheApp(b, "/api/svc/item?id=1")
	b.ReportAllocs()
	benchCacheHits(b, h, "/api/svc/item?id=1")
}

// BenchmarkCacheHitVary adds the Vary record lookup.
func BenchmarkCacheHitVary(b *testing.B) {
	h := benchCacheApp(b, "/api/svc/item?id=1", "Vary", "Accept-Encoding")
	b.ReportAllocs()
	benchCacheHits(b, h, "/api/svc/item?id=1")
}

// BenchmarkCacheHitParallel measures hits on one key from every core.
func BenchmarkCacheHitParallel(b *testing.B) {
	h := benchCacheApp(b, "/api/svc/item?id=1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/api/svc/item?id=1")
		for pb.Next() {
			ctx.Response.Reset()
			h(&ctx)
		}
	})
}

// BenchmarkFiberBaseline is the same route answered by a handler that
// writes the same response without a cache, for comparison.
func BenchmarkFiberBaseline(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(RequestID(NewRequestIDs()))
	body := []byte(strings.Repeat("b", 512))
	app.Get("/api/:service/*", func(c *fiber.Ctx) error {
		c.Response().Header.SetContentType("application/json")
		c.Response().Header.Set("ETag", `"x"`)
		c.Response().SetBodyRaw(body)
		return nil
	})
	benchRequests(b, app.Handler(), "/api/svc/item?id=1")
}

// benchRequests sends GET uri to h on one RequestCtx until the benchmark
// ends, reset between requests the way fasthttp's server resets it.
func benchRequests(b *testing.B, h fasthttp.RequestHandler, uri string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}
