package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// testRedis is a redis-server this test started on a free loopback port.
type testRedis struct {
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startRedis starts a throw-away redis-server (no persistence) and waits,
// with a deadline, until it answers PING. Without the binary the test is
// skipped, unless CI is set: CI must run these tests.
func startRedis(t testing.TB) *testRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found and CI=%s: install it (Debian: redis-server)", os.Getenv("CI"))
		}
		t.Skip("redis-server not installed; skipping the Redis tests (they run, and must pass, with CI set)")
	}
	r := &testRedis{port: freePort(t)}
	r.start(t, bin)
	return r
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (r *testRedis) start(t testing.TB, bin string) {
	t.Helper()
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	r.done = make(chan struct{})
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	done := r.done
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { r.kill(t) })
	r.waitReady(t)
}

// waitReady polls PING until it answers, failing after a deadline.
func (r *testRedis) waitReady(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.Ping(ctx).Err() == nil {
			return
		}
		select {
		case <-r.done:
			t.Fatalf("redis-server on port %d exited before answering PING", r.port)
		case <-ctx.Done():
			t.Fatalf("redis-server on port %d did not answer PING within 10s", r.port)
		case <-tick.C:
		}
	}
}

// kill stops the server and waits until it has exited.
func (r *testRedis) kill(t testing.TB) {
	t.Helper()
	_ = r.cmd.Process.Kill()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server did not exit within 10s of SIGKILL")
	}
}

func (r *testRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *testRedis) url() string  { return "redis://" + r.addr() + "/0" }

// logCounter is a slog.Handler counting records by message.
type logCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCounter) WithGroup(string) slog.Handler            { return h }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[r.Message]++
	return nil
}

func (h *logCounter) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for m, c := range h.msgs {
		if len(m) >= len(prefix) && m[:len(prefix)] == prefix {
			n += c
		}
	}
	return n
}

// redisWindow is so long that no window edge falls inside a test run
// (window 0 lasts until 2084), since Redis's clock cannot be injected.
const redisWindow = 1_000_000 * time.Hour

// replica is one gateway instance: a limiter and an app around it.
type replica struct {
	l    *Limiter
	app  *fiber.App
	logs *logCounter
}

func newReplica(t *testing.T, url string, limit int, failOpen bool, clock *fakeClock) *replica {
	t.Helper()
	cfg := rateConfig(limit, redisWindow, "ip")
	cfg.RedisURL = url
	cfg.RateLimitRedisFailOpen = failOpen
	logs := &logCounter{msgs: map[string]int{}}
	l := newLimiter(t, cfg, WithClock(clock.Now), WithLogger(slog.New(logs)))
	return &replica{l: l, app: rateApp(t, l), logs: logs}
}

// status sends one request from client ip and returns its status.
func (r *replica) status(t *testing.T, ip string) int {
	t.Helper()
	resp, body := get(t, r.app, "/api/x", fiber.HeaderXForwardedFor, ip)
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return resp.StatusCode
}

// expect sends the statuses' worth of requests and compares.
func (r *replica) expect(t *testing.T, name, ip string, want ...int) {
	t.Helper()
	for i, w := range want {
		if got := r.status(t, ip); got != w {
			t.Fatalf("%s: request %d from %s: status %d, want %d", name, i, ip, got, w)
		}
	}
}

func TestRedisSharedLimit(t *testing.T) {
	// Registered first, so it runs after every other cleanup (Redis killed).
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreCurrent(),
			goleak.IgnoreTopFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
	})
	srv := startRedis(t)
	clock := newFakeClock(time.Now())
	a := newReplica(t, srv.url(), 5, true, clock)
	b := newReplica(t, srv.url(), 5, true, clock)
	const ip = "198.51.100.1"
	wantRemaining := 4
	for i := range 5 {
		r := []*replica{a, b}[i%2]
		resp, _ := get(t, r.app, "/api/x", fiber.HeaderXForwardedFor, ip)
		if resp.StatusCode != 200 || resp.Header.Get(HeaderRemaining) != strconv.Itoa(wantRemaining) {
			t.Fatalf("request %d: status %d remaining %q, want 200 %d", i, resp.StatusCode,
				resp.Header.Get(HeaderRemaining), wantRemaining)
		}
		wantRemaining--
	}
	a.expect(t, "a after the global limit", ip, 429, 429)
	b.expect(t, "b after the global limit", ip, 429)
	a.expect(t, "another client", "198.51.100.2", 200)
	for _, r := range []*replica{a, b} {
		if s := r.l.Stats(); s.RedisErrors != 0 || s.Fallbacks != 0 || s.RedisDown {
			t.Errorf("stats %+v", s)
		}
	}
	if sa, sb := a.l.Stats(), b.l.Stats(); sa.Allowed+sb.Allowed != 6 || sa.Rejected+sb.Rejected != 3 {
		t.Errorf("stats a %+v b %+v", sa, sb)
	}
	for _, r := range []*replica{a, b} {
		if err := r.l.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestRedisOutageFallsBackToLocal(t *testing.T) {
	srv := startRedis(t)
	clock := newFakeClock(time.Now())
	a := newReplica(t, srv.url(), 5, true, clock)
	b := newReplica(t, srv.url(), 5, true, clock)
	const ip = "198.51.100.1"
	a.expect(t, "a shared", ip, 200, 200, 200)
	b.expect(t, "b shared", ip, 200, 200, 429)

	srv.kill(t)
	// Each replica now limits alone, from the counts it mirrored: a saw 3,
	// b saw 2 of the 5. No request fails.
	a.expect(t, "a local", ip, 200, 200, 429, 429)
	b.expect(t, "b local", ip, 200, 200, 200, 429, 429)
	for name, r := range map[string]*replica{"a": a, "b": b} {
		s := r.l.Stats()
		if !s.RedisDown || s.RedisErrors != 1 || s.Fallbacks == 0 || s.Unavailable != 0 {
			t.Errorf("%s: stats %+v; want down, exactly one error (no probes before the retry time), fallbacks", name, s)
		}
		if n := r.logs.count("rate limit: Redis unavailable"); n != 1 {
			t.Errorf("%s: %d outage log records, want 1", name, n)
		}
	}

	// Redis comes back on the same port; after the retry interval one probe
	// finds it and the limit is shared again (the new Redis starts empty).
	srv.start(t, srv.cmd.Path)
	clock.Add(DefaultRedisRetry)
	a.expect(t, "a shared again", ip, 200, 200, 200, 200, 200, 429)
	b.expect(t, "b shared again", ip, 429)
	if s := a.l.Stats(); s.RedisDown || a.logs.count("rate limit: Redis reachable again") != 1 {
		t.Errorf("after recovery: stats %+v, logs %v", s, a.logs.msgs)
	}
}

// TestRedisKilledUnderLoad kills Redis while two replicas serve concurrent
// clients: every answer is 200 or 429, never an error.
func TestRedisKilledUnderLoad(t *testing.T) {
	srv := startRedis(t)
	clock := newFakeClock(time.Now())
	reps := []*replica{newReplica(t, srv.url(), 50, true, clock), newReplica(t, srv.url(), 50, true, clock)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := "198.51.100." + strconv.Itoa(g)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req := httptest.NewRequest(http.MethodGet, "/api/x", nil)
				req.Header.Set(fiber.HeaderXForwardedFor, ip)
				resp, err := reps[i%2].app.Test(req, -1)
				code := -1
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "traffic through Redis", func() bool { return reps[0].l.Stats().Allowed+reps[1].l.Stats().Allowed > 20 })
	srv.kill(t)
	waitFor(t, "both replicas to fall back", func() bool {
		return reps[0].l.Stats().Fallbacks > 10 && reps[1].l.Stats().Fallbacks > 10
	})
	close(stop)
	wg.Wait()
	for code, n := range statuses {
		if code != 200 && code != 429 {
			t.Errorf("%d answers with status %d; statuses %v", n, code, statuses)
		}
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestRedisFailClosed(t *testing.T) {
	srv := startRedis(t)
	clock := newFakeClock(time.Now())
	r := newReplica(t, srv.url(), 5, false, clock)
	r.expect(t, "shared", "198.51.100.1", 200)
	srv.kill(t)
	for range 3 {
		resp, body := get(t, r.app, "/api/x", fiber.HeaderXForwardedFor, "198.51.100.1")
		if resp.StatusCode != 503 || resp.Header.Get(fiber.HeaderRetryAfter) == "" {
			t.Fatalf("fail closed: status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get(fiber.HeaderRetryAfter), body)
		}
	}
	if s := r.l.Stats(); s.Unavailable != 3 || s.Fallbacks != 0 || s.RedisErrors != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestRedisUnreachableAtStart needs no server: nothing listens on the port.
func TestRedisUnreachableAtStart(t *testing.T) {
	clock := newFakeClock(time.Now())
	r := newReplica(t, fmt.Sprintf("redis://127.0.0.1:%d", freePort(t)), 2, true, clock)
	r.expect(t, "local", "198.51.100.1", 200, 200, 429)
	if s := r.l.Stats(); !s.RedisDown || s.RedisErrors != 1 || s.Fallbacks != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestRedisKeyBounded(t *testing.T) {
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'k'
	}
	tests := []struct {
		key  []byte
		want int
	}{
		{[]byte("ip:1.2.3.4"), len(redisKeyPrefix) + 10},
		{long, len(redisKeyPrefix) + len("sha256:") + 64},
	}
	for _, tt := range tests {
		if got := redisKey(tt.key); len(got) != tt.want {
			t.Errorf("redisKey(%d bytes) has %d bytes, want %d", len(tt.key), len(got), tt.want)
		}
	}
	if redisKey(long) == redisKey(append(long[:999:999], 'x')) {
		t.Error("long keys collide")
	}
}

// BenchmarkRateLimitRedis is the limiter's request path against a local
// redis-server: one EVALSHA round trip per request.
func BenchmarkRateLimitRedis(b *testing.B) {
	srv := startRedis(b)
	cfg := rateConfig(1<<30, redisWindow, "ip")
	cfg.RedisURL = srv.url()
	handler, fctx := benchApp(newLimiter(b, cfg))
	handler(fctx)
	b.ReportAllocs()
	for b.Loop() {
		handler(fctx)
	}
	if fctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d", fctx.Response.StatusCode())
	}
}
