package ratelimit

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/config"
	"gateway/middleware"
)

// rateConfig is a config limiting to limit per window by key, trusting
// app.Test's peer (0.0.0.0) as a proxy so X-Forwarded-For picks the client.
func rateConfig(limit int, window time.Duration, key string) *config.Config {
	cfg := config.Default()
	cfg.RateLimitMax = limit
	cfg.RateLimitWindow = window
	cfg.RateLimitKey = key
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}
	return cfg
}

// testSubjectHeader lets a test play the JWT middleware: its value becomes
// the request's subject (newLimiter installs testSubject through WithSubject).
const testSubjectHeader = "X-Test-Subject"

func testSubject(c *fiber.Ctx) string { return c.Get(testSubjectHeader) }

// rateApp mounts the limiter on /api as the app does; /api/fail ends in an
// error the app's handler renders.
func rateApp(t testing.TB, l *Limiter) *fiber.App {
	t.Helper()
	app := fiber.New()
	app.Use(middleware.RequestID(middleware.NewRequestIDs()))
	app.Use("/api", l.Handler())
	app.Get("/api/fail", func(*fiber.Ctx) error { return fiber.ErrBadGateway })
	app.All("/api/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
	return app
}

func newLimiter(t testing.TB, cfg *config.Config, opts ...Option) *Limiter {
	t.Helper()
	l, err := New(cfg, append([]Option{WithSubject(testSubject)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// get sends GET target with header pairs and returns the response and body.
func get(t testing.TB, app *fiber.App, target string, headers ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRateLimitHeaders(t *testing.T) {
	const w = time.Minute
	clock := newFakeClock(windowStart(500, w).Add(10 * time.Second))
	l := newLimiter(t, rateConfig(2, w, "ip"), WithClock(clock.Now))
	app := rateApp(t, l)
	tests := []struct {
		name, target            string
		status                  int
		remaining, reset, retry string
	}{
		{"first", "/api/x", 200, "1", "50", ""},
		{"error answer keeps headers", "/api/fail", 502, "0", "50", ""},
		{"limited", "/api/x", 429, "0", "50", "51"},
		{"still limited", "/api/x", 429, "0", "50", "51"},
	}
	for _, tt := range tests {
		resp, body := get(t, app, tt.target, fiber.HeaderXForwardedFor, "198.51.100.1")
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: status %d, want %d (%s)", tt.name, resp.StatusCode, tt.status, body)
		}
		h := resp.Header
		if h.Get(HeaderLimit) != "2" || h.Get(HeaderRemaining) != tt.remaining ||
			h.Get(HeaderReset) != tt.reset || h.Get(fiber.HeaderRetryAfter) != tt.retry {
			t.Errorf("%s: headers Limit %q Remaining %q Reset %q Retry-After %q; want 2 %s %s %q", tt.name,
				h.Get(HeaderLimit), h.Get(HeaderRemaining), h.Get(HeaderReset),
				h.Get(fiber.HeaderRetryAfter), tt.remaining, tt.reset, tt.retry)
		}
		if tt.status == 429 {
			id := h.Get("X-Request-Id")
			if body != `{"error":"too many requests","requestId":"`+id+`"}` {
				t.Errorf("429 body %s", body)
			}
		}
	}
	clock.Add(w + 50*time.Second) // 10 s into the next-but-one window: ⌊2·50/60⌋ = 1
	if resp, _ := get(t, app, "/api/x", fiber.HeaderXForwardedFor, "198.51.100.1"); resp.StatusCode != 200 {
		t.Fatalf("after recovery: status %d", resp.StatusCode)
	}
	if s := l.Stats(); s.Allowed != 3 || s.Rejected != 2 || s.Keys != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestRateLimitKeys(t *testing.T) {
	const xff = fiber.HeaderXForwardedFor
	tests := []struct {
		name string
		key  string
		a, b []string // two clients' headers: b must have its own quota
		same []string // a third client that shares a's quota
	}{
		{"ip", "ip",
			[]string{xff, "198.51.100.1"}, []string{xff, "198.51.100.2"},
			[]string{xff, "6.6.6.6, 198.51.100.1"}}, // spoofed left part ignored
		{"ipv6 per /64", "ip",
			[]string{xff, "2001:db8:1:2::1"}, []string{xff, "2001:db8:1:3::1"},
			[]string{xff, "2001:db8:1:2:ffff:eeee:dddd:cccc"}}, // same /64, another address
		{"sub", "sub",
			[]string{testSubjectHeader, "alice", xff, "198.51.100.1"}, []string{testSubjectHeader, "bob", xff, "198.51.100.1"},
			[]string{testSubjectHeader, "alice", xff, "198.51.100.9"}},
		{"sub falls back to ip", "sub",
			[]string{xff, "198.51.100.1"}, []string{testSubjectHeader, "198.51.100.1", xff, "198.51.100.1"},
			[]string{xff, "198.51.100.1"}},
		{"header", "header:X-Api-Key",
			[]string{"X-Api-Key", "k1", xff, "198.51.100.1"}, []string{"X-Api-Key", "k2", xff, "198.51.100.1"},
			[]string{"X-Api-Key", "k1", xff, "198.51.100.7"}},
		{"missing header falls back to ip", "header:X-Api-Key",
			[]string{xff, "198.51.100.1"}, []string{"X-Api-Key", "198.51.100.1", xff, "198.51.100.1"},
			[]string{xff, "198.51.100.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(windowStart(9, time.Minute))
			app := rateApp(t, newLimiter(t, rateConfig(1, time.Minute, tt.key), WithClock(clock.Now)))
			for i, c := range []struct {
				h    []string
				want int
			}{{tt.a, 200}, {tt.a, 429}, {tt.b, 200}, {tt.same, 429}} {
				if resp, _ := get(t, app, "/api/x", c.h...); resp.StatusCode != c.want {
					t.Fatalf("request %d %v: status %d, want %d", i, c.h, resp.StatusCode, c.want)
				}
			}
		})
	}
}

func TestRateKeyIP(t *testing.T) {
	tests := []struct {
		ip   string
		bits int
		want string
	}{
		{"198.51.100.7", 64, "ip:198.51.100.7"},
		{"::ffff:198.51.100.7", 64, "ip:198.51.100.7"}, // ClientIP unmaps; Unmap here stands in
		{"2001:db8:1:2:3:4:5:6", 64, "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "ip:2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 56, "ip:2001:db8:1::/56"},
		{"2001:db8:1:2:3:4:5:6", 128, "ip:2001:db8:1:2:3:4:5:6"},
		{"2001:db8:1:2:3:4:5:6", 0, "ip:2001:db8:1:2:3:4:5:6"},
		{"fe80::1%eth0", 64, "ip:fe80::/64"},
		{"::1", 64, "ip:::/64"},
	}
	for _, tt := range tests {
		k, err := parseClientKey("ip", nil, tt.bits)
		if err != nil {
			t.Fatal(err)
		}
		ip := netip.MustParseAddr(tt.ip).Unmap()
		if got := string(k.appendIP([]byte("ip:"), ip)); got != tt.want {
			t.Errorf("%s /%d: key %q, want %q", tt.ip, tt.bits, got, tt.want)
		}
	}
}

func TestNewRateLimitErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Config)
	}{
		{"off", func(c *config.Config) { c.RateLimitMax = 0 }},
		{"zero window", func(c *config.Config) { c.RateLimitWindow = 0 }},
		{"bad key", func(c *config.Config) { c.RateLimitKey = "cookie:x" }},
		{"empty header name", func(c *config.Config) { c.RateLimitKey = "header:" }},
		{"bad redis url", func(c *config.Config) { c.RedisURL = "http://nope" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rateConfig(5, time.Second, "ip")
			tt.edit(cfg)
			if l, err := New(cfg); err == nil {
				_ = l.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestMemoryStoreBounded(t *testing.T) {
	const w = time.Second
	clock := newFakeClock(windowStart(100, w))
	l := newLimiter(t, rateConfig(3, w, "header:X-Key"), WithClock(clock.Now), WithMaxKeys(640))
	h := l.Handler()
	app := fiber.New()
	app.Use(h)
	app.Get("/", func(c *fiber.Ctx) error { return nil })
	handler := app.Handler()
	var fctx fasthttp.RequestCtx
	var req fasthttp.Request
	for i := range 20_000 {
		req.Reset()
		req.SetRequestURI("/")
		req.Header.Set("X-Key", "client-"+strconv.Itoa(i))
		fctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1)}, nil)
		handler(&fctx)
		if fctx.Response.StatusCode() != 200 {
			t.Fatalf("key %d: status %d", i, fctx.Response.StatusCode())
		}
	}
	s := l.Stats()
	if s.Keys > 640 || s.Keys < 600 || s.Evicted < 20_000-640 {
		t.Fatalf("after 20000 keys with cap 640: %+v", s)
	}
}

func TestMemoryStoreExpiresOldKeys(t *testing.T) {
	const w = time.Second
	s := newMemoryStore(3, w, 1<<20)
	base := windowStart(100, w)
	for h := range uint64(5000) {
		s.take(h, base, false)
	}
	if n := s.keys(); n != 5000 {
		t.Fatalf("%d keys, want 5000", n)
	}
	// Two windows later the old counts weigh nothing; new keys sweep them.
	for h := range uint64(5000) {
		s.take(1<<32+h, base.Add(2*w), false)
	}
	if n := s.keys(); n != 5000 || s.evicted.Load() != 0 {
		t.Fatalf("%d keys, %d evicted; want 5000 live, none evicted", n, s.evicted.Load())
	}
}

func TestMemoryStoreEvictsOldestSampled(t *testing.T) {
	const w = time.Second
	s := newMemoryStore(3, w, memoryShards) // one key per shard
	base := windowStart(100, w)
	s.take(0, base, false)                   // shard 0, window 100
	s.take(memoryShards, base.Add(w), false) // shard 0 again: evicts key 0
	if st := s.take(memoryShards, base.Add(w), false); st.curr != 2 {
		t.Fatalf("survivor lost its count: %+v", st)
	}
	if s.evicted.Load() != 1 || s.keys() != 1 {
		t.Fatalf("evicted %d keys %d", s.evicted.Load(), s.keys())
	}
}

func TestRateLimitHandlerAllocs(t *testing.T) {
	l := newLimiter(t, rateConfig(1<<30, time.Minute, "ip"))
	handler, fctx := benchApp(l)
	handler(fctx)
	if n := testing.AllocsPerRun(200, func() { handler(fctx) }); n != 0 {
		t.Fatalf("limiter path allocates %v per request, want 0", n)
	}
}

// benchApp is the limiter in front of an empty route, and a request to it.
func benchApp(l *Limiter) (fasthttp.RequestHandler, *fasthttp.RequestCtx) {
	app := fiber.New()
	app.Use("/api", l.Handler())
	app.Get("/api/x", func(c *fiber.Ctx) error { return nil })
	var req fasthttp.Request
	req.SetRequestURI("/api/x")
	fctx := &fasthttp.RequestCtx{}
	fctx.Init(&req, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 1}, nil)
	return app.Handler(), fctx
}

func BenchmarkRateLimitMemory(b *testing.B) {
	for _, tc := range []struct {
		name  string
		limit int
	}{{"allowed", 1 << 30}, {"rejected", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			handler, fctx := benchApp(newLimiter(b, rateConfig(tc.limit, time.Hour, "ip")))
			b.ReportAllocs()
			for b.Loop() {
				handler(fctx)
			}
		})
	}
	b.Run("parallel-distinct-keys", func(b *testing.B) {
		l := newLimiter(b, rateConfig(1<<30, time.Hour, "header:X-Key"))
		handler, _ := benchApp(l)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			_, fctx := benchApp(l)
			var key [20]byte
			for i := 0; pb.Next(); i++ {
				fctx.Request.Header.SetBytesV("X-Key", strconv.AppendInt(key[:0], int64(i%50_000), 10))
				handler(fctx)
			}
		})
	})
}

func BenchmarkNoRateLimit(b *testing.B) {
	app := fiber.New()
	app.Get("/api/x", func(c *fiber.Ctx) error { return nil })
	var req fasthttp.Request
	req.SetRequestURI("/api/x")
	fctx := &fasthttp.RequestCtx{}
	fctx.Init(&req, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1)}, nil)
	handler := app.Handler()
	b.ReportAllocs()
	for b.Loop() {
		handler(fctx)
	}
}
