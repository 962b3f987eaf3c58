package shed

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"gateway/config"
	"gateway/middleware"
)

// fakePressure is a settable Readings source.
type fakePressure struct {
	mu    sync.Mutex
	r     Readings
	calls atomic.Int64
}

func (f *fakePressure) read() Readings {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.r
}

func (f *fakePressure) set(r Readings) {
	f.mu.Lock()
	f.r = r
	f.mu.Unlock()
}

func newTestShedder(t testing.TB, cfg *config.Config, opts ...Option) *Shedder {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// shedDo runs one GET through h in process and returns the status and
// Retry-After.
func shedDo(h fasthttp.RequestHandler) (int, string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/api/svc/x")
	h(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("Retry-After"))
}

func TestShedInflightExcess(t *testing.T) {
	const limit, n = 3, 10
	cfg := config.Default()
	cfg.MaxInflightRequests = limit
	s := newTestShedder(t, cfg, WithReader((&fakePressure{}).read))
	release := make(chan struct{})
	var worked atomic.Int64
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(middleware.RequestID(middleware.NewRequestIDs()))
	app.Get("/api/:service/*", s.Handler(), func(c *fiber.Ctx) error {
		worked.Add(1)
		<-release
		return c.SendString("done")
	})
	gw := serve(t, app)
	client := newClient(t)
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAll) // before the server's shutdown, even when the test fails

	type result struct {
		status     int
		retryAfter string
		body       string
	}
	results := make(chan result, n)
	for range n {
		go func() {
			resp, err := client.Get("http://" + gw + "/api/svc/slow")
			if err != nil {
				t.Error(err)
				results <- result{}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
		}()
	}
	next := func() result {
		select {
		case r := <-results:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("timed out waiting for an answer")
			return result{}
		}
	}
	// The excess is answered while the admitted requests are still held.
	for range n - limit {
		r := next()
		if r.status != http.StatusServiceUnavailable || r.retryAfter != "1" ||
			!strings.Contains(r.body, `"error":"gateway overloaded"`) || !strings.Contains(r.body, `"requestId":"`) {
			t.Fatalf("excess request got %d Retry-After %q body %q", r.status, r.retryAfter, r.body)
		}
	}
	if got := s.Stats(); got.Inflight != limit || got.ShedInflight != n-limit || !got.Overloaded || !s.Overloaded() {
		t.Fatalf("while held: %+v", got)
	}
	if worked.Load() != limit {
		t.Fatalf("%d requests reached the handler, want %d: shedding must come first", worked.Load(), limit)
	}
	releaseAll()
	for range limit {
		if r := next(); r.status != 200 || r.body != "done" {
			t.Fatalf("admitted request got %d %q", r.status, r.body)
		}
	}
	waitFor(t, "in-flight count to drop", func() bool { return s.Stats().Inflight == 0 })
	if s.Overloaded() {
		t.Fatal("still overloaded with nothing in flight")
	}
	if resp, body := get(t, client, "http://"+gw+"/api/svc/slow"); resp.StatusCode != 200 || body != "done" {
		t.Fatalf("after the load: %d %q", resp.StatusCode, body)
	}
}

func TestShedSampledLimits(t *testing.T) {
	cfg := config.Default()
	cfg.MaxHeapBytes = 1000
	cfg.MaxGoroutines = 50
	cfg.MaxSchedLatency = 10 * time.Millisecond
	cfg.PressureSample = 2500 * time.Millisecond
	tests := []struct {
		name string
		r    Readings
		over [3]bool // heap, goroutines, sched latency
	}{
		{"all under", Readings{HeapBytes: 1000, Goroutines: 50, SchedLatencyP99: 10 * time.Millisecond}, [3]bool{}},
		{"heap", Readings{HeapBytes: 1001, Goroutines: 1}, [3]bool{true, false, false}},
		{"goroutines", Readings{Goroutines: 51}, [3]bool{false, true, false}},
		{"sched latency", Readings{SchedLatencyP99: 11 * time.Millisecond}, [3]bool{false, false, true}},
		{"all", Readings{HeapBytes: 5000, Goroutines: 500, SchedLatencyP99: time.Second}, [3]bool{true, true, true}},
		{"back under", Readings{HeapBytes: 10, Goroutines: 10}, [3]bool{}},
	}
	fake := &fakePressure{}
	s := newTestShedder(t, cfg, WithReader(fake.read))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/:service/*", s.Handler(), func(c *fiber.Ctx) error { return c.SendString("ok") })
	h := app.Handler()
	for _, tt := range tests { // in order: Overloaded flips on and back off
		t.Run(tt.name, func(t *testing.T) {
			fake.set(tt.r)
			s.sample(time.Now())
			anyOver := tt.over[0] || tt.over[1] || tt.over[2]
			if s.Overloaded() != anyOver {
				t.Fatalf("Overloaded = %v, want %v", s.Overloaded(), anyOver)
			}
			status, retry := shedDo(h)
			if anyOver && (status != 503 || retry != "3") || !anyOver && status != 200 {
				t.Fatalf("request got %d Retry-After %q (over %v)", status, retry, anyOver)
			}
			rep := s.Report().Readings
			if got := [3]bool{rep.HeapBytes.Over, rep.Goroutines.Over, rep.SchedLatencyP99Ms.Over}; got != tt.over {
				t.Fatalf("report over flags %v, want %v", got, tt.over)
			}
		})
	}
}

func TestShedLimitsOffWhenZero(t *testing.T) {
	fake := &fakePressure{}
	fake.set(Readings{HeapBytes: 1 << 40, Goroutines: 1 << 20, SchedLatencyP99: time.Hour})
	s := newTestShedder(t, config.Default(), WithReader(fake.read))
	s.sample(time.Now())
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/:service/*", s.Handler(), func(c *fiber.Ctx) error { return c.SendString("ok") })
	if status, _ := shedDo(app.Handler()); status != 200 || s.Overloaded() {
		t.Fatalf("with every limit 0: status %d, overloaded %v", status, s.Overloaded())
	}
}

func TestShedStreams(t *testing.T) {
	cfg := config.Default()
	cfg.MaxInflightRequests = 1
	s := newTestShedder(t, cfg, WithReader((&fakePressure{}).read))
	hold, held := make(chan struct{}), make(chan struct{})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/sse/:service/*", s.StreamHandler(), func(c *fiber.Ctx) error { return c.SendString("stream") })
	app.Get("/api/:service/*", s.Handler(), func(c *fiber.Ctx) error {
		if c.Query("hold") != "" {
			close(held)
			<-hold
		}
		return c.SendString("ok")
	})
	h := app.Handler()
	do := func(uri string) int {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(uri)
		h(&ctx)
		return ctx.Response.StatusCode()
	}
	if got := do("/sse/svc/events"); got != 200 {
		t.Fatalf("stream with room: %d", got)
	}
	go do("/api/svc/x?hold=1")
	<-held
	if got := do("/sse/svc/events"); got != 503 {
		t.Fatalf("stream while overloaded: %d, want 503", got)
	}
	close(hold)
	waitFor(t, "the held request to finish", func() bool { return s.Stats().Inflight == 0 })
	if st := s.Stats(); st.Streams != 0 || st.ShedInflight != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShedStreamsDoNotCountInflight(t *testing.T) {
	cfg := config.Default()
	cfg.MaxInflightRequests = 1
	s := newTestShedder(t, cfg, WithReader((&fakePressure{}).read))
	open, opened := make(chan struct{}), make(chan struct{})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/sse/:service/*", s.StreamHandler(), func(c *fiber.Ctx) error {
		close(opened)
		<-open // a long-lived stream
		return nil
	})
	app.Get("/api/:service/*", s.Handler(), func(c *fiber.Ctx) error { return c.SendString("ok") })
	h := app.Handler()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/sse/svc/events")
		h(&ctx)
	}()
	<-opened
	if st := s.Stats(); st.Streams != 1 || st.Inflight != 0 {
		t.Fatalf("with a stream open: %+v", st)
	}
	if status, _ := shedDo(h); status != 200 {
		t.Fatalf("API request beside an open stream got %d", status)
	}
	close(open)
	<-done
	if st := s.Stats(); st.Streams != 0 {
		t.Fatalf("stream not uncounted: %+v", st)
	}
}

func TestPressureHandlerJSON(t *testing.T) {
	cfg := config.Default()
	cfg.MaxInflightRequests = 100
	cfg.MaxHeapBytes = 1 << 20
	cfg.MaxSchedLatency = 5 * time.Millisecond
	fake := &fakePressure{}
	fake.set(Readings{HeapBytes: 2 << 20, Goroutines: 7, SchedLatencyP99: 1500 * time.Microsecond})
	s := newTestShedder(t, cfg, WithReader(fake.read))

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/_pressure", s.PressureHandler())
	get := func() map[string]any {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/_pressure")
		app.Handler()(&ctx)
		if ctx.Response.StatusCode() != 200 || !strings.HasPrefix(string(ctx.Response.Header.ContentType()), "application/json") {
			t.Fatalf("status %d, content type %q", ctx.Response.StatusCode(), ctx.Response.Header.ContentType())
		}
		var m map[string]any
		if err := json.Unmarshal(ctx.Response.Body(), &m); err != nil {
			t.Fatalf("%v in %s", err, ctx.Response.Body())
		}
		return m
	}
	if m := get(); m["sampledAt"] != nil {
		t.Fatalf("sampledAt before any sample = %v, want null", m["sampledAt"])
	}
	s.Start(context.Background())
	m := get()
	if keys := sortedKeys(m); strings.Join(keys, ",") != "overloaded,readings,sampleIntervalMs,sampledAt,shedTotal,streams" {
		t.Fatalf("top-level keys %v", keys)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["sampledAt"].(string)); err != nil || m["overloaded"] != true || m["sampleIntervalMs"] != 1000.0 {
		t.Fatalf("report %v", m)
	}
	readings := m["readings"].(map[string]any)
	want := map[string][3]any{ // value, limit, over
		"inflightRequests":  {0.0, 100.0, false},
		"heapBytes":         {float64(2 << 20), float64(1 << 20), true},
		"goroutines":        {7.0, 0.0, false},
		"schedLatencyP99Ms": {1.5, 5.0, false},
	}
	if keys := sortedKeys(readings); len(keys) != len(want) {
		t.Fatalf("readings %v", keys)
	}
	for name, w := range want {
		r, ok := readings[name].(map[string]any)
		if !ok || len(r) != 3 || r["value"] != w[0] || r["limit"] != w[1] || r["over"] != w[2] {
			t.Errorf("%s = %v, want value %v limit %v over %v", name, readings[name], w[0], w[1], w[2])
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestShedStartClose(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	cfg := config.Default()
	cfg.PressureSample = time.Millisecond
	cfg.MaxGoroutines = 10
	fake := &fakePressure{}
	s, err := New(cfg, WithReader(fake.read))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close() // before Start: a no-op
	s.Start(context.Background())
	s.Start(context.Background()) // a second Start does not start a second sampler
	if fake.calls.Load() < 1 {
		t.Fatal("Start did not sample at once")
	}
	fake.set(Readings{Goroutines: 11})
	waitFor(t, "the sampler to see the new reading", s.Overloaded)
	_ = s.Close()
	_ = s.Close()
	goleak.VerifyNone(t, leaks)

	// A cancelled context stops it too.
	s2, _ := New(cfg, WithReader(fake.read))
	ctx, cancel := context.WithCancel(context.Background())
	s2.Start(ctx)
	cancel()
	_ = s2.Close()
	goleak.VerifyNone(t, leaks)
}

func TestNewShedderRejectsNegative(t *testing.T) {
	cfg := config.Default()
	cfg.MaxInflightRequests = -1
	if _, err := New(cfg); err == nil {
		t.Fatal("negative limit accepted")
	}
}

// BenchmarkShedHandler measures admission through Fiber with every limit on.
func BenchmarkShedHandler(b *testing.B) {
	cfg := config.Default()
	cfg.MaxInflightRequests = 1000
	cfg.MaxHeapBytes = 1 << 40
	s := newTestShedder(b, cfg, WithReader((&fakePressure{}).read))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/:service/*", s.Handler(), func(c *fiber.Ctx) error { return nil })
	benchRequests(b, app.Handler(), "/api/svc/x")
}
