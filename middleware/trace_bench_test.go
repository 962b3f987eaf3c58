package middleware

import (
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BenchmarkTraceContext is what trace context costs every request with
// export off: the Context middleware in front of a handler that returns at
// once, against the same app without it ("none"). The difference between
// the two is the cost (parse the incoming traceparent, a fresh span id,
// the traceparent rewritten), and both allocate nothing.
//
//	go test -run '^$' -bench TraceContext -benchmem ./middleware/
//
// BenchmarkTraceContextHeader is the same cost without Fiber around it.
func BenchmarkTraceContextHeader(b *testing.B) {
	var h fasthttp.RequestHeader
	h.SetMethod("GET")
	h.SetRequestURI("/api/users/v1/me")
	h.Set("User-Agent", "bench")
	h.Set("Accept", "application/json")
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Set("tracestate", "congo=t61rcWkgMzE")
	b.ReportAllocs()
	for b.Loop() {
		_ = continueTrace(&h)
	}
}

// BenchmarkTraceContext runs the middleware in a Fiber app.
func BenchmarkTraceContext(b *testing.B) {
	for _, tt := range []struct {
		name   string
		parent string
		trace  bool
	}{
		{"none", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"continued", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"fresh", "", true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			app := fiber.New()
			if tt.trace {
				app.Use(NewTrace(nil, nil).Context())
			}
			app.Get("/api/:service/*", func(*fiber.Ctx) error { return nil })
			h := app.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/api/users/v1/me")
			ctx.Request.Header.Set("User-Agent", "bench")
			ctx.Request.Header.Set("Accept", "application/json")
			if tt.parent != "" {
				ctx.Request.Header.Set("traceparent", tt.parent)
				ctx.Request.Header.Set("tracestate", "congo=t61rcWkgMzE")
			}
			b.ReportAllocs()
			for b.Loop() {
				h(&ctx)
			}
		})
	}
}
