package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/ansrivas/fiberprometheus/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"
)

// tracedSpan is the span context the "/traced" route's requests carry.
var tracedSpan = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
	TraceFlags: trace.FlagsSampled,
})

// metricsApp is a Fiber app with mw counting its requests ahead of routes
// of every kind the middleware distinguishes.
func metricsApp(mw fiber.Handler) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(func(c *fiber.Ctx) error {
		if c.Path() == "/traced" {
			c.SetUserContext(trace.ContextWithSpanContext(context.Background(), tracedSpan))
		}
		return c.Next()
	})
	app.Use(mw)
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("root") })
	app.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/traced", func(c *fiber.Ctx) error { return c.SendString("traced") })
	app.Get("/slash/", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
	app.All("/api/:service/*", func(c *fiber.Ctx) error { return c.Status(fiber.StatusCreated).SendString(c.Params("*1")) })
	app.Post("/teapot", func(*fiber.Ctx) error { return fiber.NewError(fiber.StatusTeapot, "short and stout") })
	app.Get("/broken", func(*fiber.Ctx) error { return errors.New("not a fiber.Error") })
	return app
}

// requests are sent to both apps, in this order.
var requests = []struct{ method, path string }{
	{"GET", "/"}, {"GET", "/ok"}, {"GET", "/ok"}, {"HEAD", "/ok"}, {"GET", "/traced"},
	{"GET", "/slash/"}, {"GET", "/slash"}, {"GET", "/api/users/a/b?x=1"}, {"POST", "/api/users/"},
	{"DELETE", "/api/orders/x"}, {"POST", "/teapot"}, {"GET", "/broken"}, {"GET", "/nosuch"},
	{"GET", "/nosuch/"}, {"PUT", "/ok"}, {"GET", "/OK"},
}

func TestHTTPMatchesFiberPrometheus(t *testing.T) {
	theirs := prometheus.NewRegistry()
	fp := fiberprometheus.NewWithRegistry(theirs, "", "gateway", "http", nil)
	ours := prometheus.NewRegistry()
	h, err := NewHTTP(ours, "gateway", "http")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		reg *prometheus.Registry
		app *fiber.App
	}{{theirs, metricsApp(fp.Middleware)}, {ours, metricsApp(h.Middleware)}} {
		for range 2 { // the second pass finds the children already resolved
			for _, r := range requests {
				resp, err := tt.app.Test(httptest.NewRequest(r.method, r.path, nil), -1)
				if err != nil {
					t.Fatalf("%s %s: %v", r.method, r.path, err)
				}
				resp.Body.Close()
			}
		}
	}
	want, got := summary(t, theirs), summary(t, ours)
	if got != want {
		t.Errorf("metrics.HTTP recorded\n%s\nfiberprometheus recorded\n%s", got, want)
	}
	for _, line := range []string{
		`gateway_http_requests_total{method="GET",path="/api/:service/*",status_code="201"} 2`,
		`gateway_http_requests_total{method="POST",path="/teapot",status_code="418"} 2`,
		`gateway_http_request_duration_seconds{method="GET",path="/traced",status_code="200"} count=2 exemplar=` + tracedSpan.TraceID().String(),
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("no %s in\n%s", line, got)
		}
	}
}

// summary renders what reg holds, less what timing decides (durations,
// bucket counts): each series' labels with its counter or gauge value, or
// its histogram's sample count and the trace ids of its exemplars.
func summary(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			line := f.GetName() + "{" + strings.Join(labels, ",") + "} "
			switch {
			case m.GetCounter() != nil:
				line += fmt.Sprint(m.GetCounter().GetValue())
			case m.GetGauge() != nil:
				line += fmt.Sprint(m.GetGauge().GetValue())
			case m.GetHistogram() != nil:
				line += fmt.Sprintf("count=%d exemplar=%s", m.GetHistogram().GetSampleCount(), exemplarIDs(m.GetHistogram()))
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// exemplarIDs are the distinct traceID labels of h's exemplars.
func exemplarIDs(h *dto.Histogram) string {
	ids := map[string]bool{}
	for _, b := range h.GetBucket() {
		for _, l := range b.GetExemplar().GetLabel() {
			if l.GetName() == "traceID" {
				ids[l.GetValue()] = true
			}
		}
	}
	var out []string
	for id := range ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestHTTPCountsInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := NewHTTP(reg, "gateway", "http")
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(h.Middleware)
	inside := -1.0
	app.Get("/", func(c *fiber.Ctx) error {
		inside = gaugeValue(t, reg, "GET")
		return nil
	})
	resp, err := app.Test(httptest.NewRequest("GET", "/", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if after := gaugeValue(t, reg, "GET"); inside != 1 || after != 0 {
		t.Errorf("in-flight GETs: %v while answering, %v after; want 1 and 0", inside, after)
	}
}

// gaugeValue is the in-flight gauge of method in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, method string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "gateway_http_requests_in_progress_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == method {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestHTTPAllocatesNothing pins the point of HTTP: a counted request costs
// no allocation beyond what Fiber spends on it without metrics, where
// fiberprometheus's Middleware spends three.
func TestHTTPAllocatesNothing(t *testing.T) {
	h, err := NewHTTP(prometheus.NewRegistry(), "gateway", "http")
	if err != nil {
		t.Fatal(err)
	}
	none := allocsPerRequest(t, func(c *fiber.Ctx) error { return c.Next() })
	if got := allocsPerRequest(t, h.Middleware); got > none {
		t.Errorf("%v allocations per request with metrics.HTTP, %v without metrics", got, none)
	}
}

// allocsPerRequest is the mean allocations of one GET /api/s/x answered
// by a Fiber app with mw ahead of its route.
func allocsPerRequest(t *testing.T, mw fiber.Handler) float64 {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(mw)
	app.Get("/api/:service/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
	handler := app.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/api/s/x")
	return testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		handler(&ctx)
		if ctx.Response.StatusCode() != fiber.StatusOK {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
	})
}

// BenchmarkMiddleware compares one counted request through a Fiber app
// (in memory, no network) with fiberprometheus's Middleware and with HTTP's.
//
//	go test -run '^$' -bench Middleware -benchmem ./internal/metrics/
func BenchmarkMiddleware(b *testing.B) {
	fp := fiberprometheus.NewWithRegistry(prometheus.NewRegistry(), "", "gateway", "http", nil)
	h, err := NewHTTP(prometheus.NewRegistry(), "gateway", "http")
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name string
		mw   fiber.Handler
	}{{"none", func(c *fiber.Ctx) error { return c.Next() }}, {"fiberprometheus", fp.Middleware}, {"HTTP", h.Middleware}} {
		b.Run(bb.name, func(b *testing.B) {
			app := fiber.New(fiber.Config{DisableStartupMessage: true})
			app.Use(bb.mw)
			app.Get("/api/:service/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
			handler := app.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI("/api/s/x")
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				handler(&ctx)
			}
		})
	}
}
