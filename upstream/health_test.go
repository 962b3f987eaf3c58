package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedHealth answers health probes with a status set per upstream URL
// (200 until set), counting the probes.
type scriptedHealth struct {
	mu     sync.Mutex
	status map[string]int
	probes atomic.Int64
}

func (h *scriptedHealth) set(u *Upstream, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status[u.String()] = status
}

func (h *scriptedHealth) probe(u *Upstream) (int, error) {
	h.probes.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.status[u.String()]
	switch {
	case !ok:
		return 200, nil
	case st == 0:
		return 0, errors.New("timeout")
	}
	return st, nil
}

// healthPool builds a pool of n upstreams of service "s" whose probes the
// script answers, every second on the fake clock.
func healthPool(t *testing.T, n int, opts Options) (*Pool, *fakeClock, *scriptedHealth) {
	t.Helper()
	h := &scriptedHealth{status: map[string]int{}}
	opts.Services = map[string][]string{"s": urls(n)}
	opts.HealthCheck.Path = "/healthz"
	opts.HealthCheck.Interval = time.Second
	opts.HealthCheck.Probe = h.probe
	p, clock := testPool(t, opts)
	return p, clock, h
}

// probeRound moves the clock d on once every prober is parked on its timer,
// and returns when they are parked again: each has probed once at most.
func probeRound(t *testing.T, clock *fakeClock, probers int, d time.Duration) {
	t.Helper()
	waitFor(t, func() bool { return clock.Pending() == probers }, "probers parked")
	clock.Advance(d)
	waitFor(t, func() bool { return clock.Pending() == probers }, "probes done")
}

// probers counts the prober goroutines running now.
func probers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "upstream.(*Upstream).probeLoop")
}

// TestHealthCheckTakesOutAndBringsBack: two failed probes take an upstream
// out of rotation, for requests and streams, and two passed ones bring it
// back with its peers' cost; one failure alone changes nothing.
func TestHealthCheckTakesOutAndBringsBack(t *testing.T) {
	var changes []string
	var mu sync.Mutex
	p, clock, h := healthPool(t, 2, Options{OnHealthChange: func(u *Upstream, healthy bool, reason string) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, u.String()+" "+map[bool]string{true: "up", false: "down"}[healthy]+": "+reason)
	}})
	a, b := p.Service("s").ups[0], p.Service("s").ups[1]
	probeRound(t, clock, 2, time.Second)
	if got := b.Snapshot(); got.Health != HealthHealthy || got.LastProbe == nil || !got.LastProbe.OK || got.ProbesPassed != 1 {
		t.Fatalf("after one passed probe: %+v %+v", got.Health, got.LastProbe)
	}

	h.set(b, 503)
	probeRound(t, clock, 2, 1100*time.Millisecond)
	if b.Health() != HealthHealthy {
		t.Fatal("one failed probe took the upstream out; the threshold is 2")
	}
	h.set(b, 200) // a pass resets the count
	probeRound(t, clock, 2, 1100*time.Millisecond)
	h.set(b, 0) // a timeout counts against it too
	probeRound(t, clock, 2, 1100*time.Millisecond)
	h.set(b, 503)
	probeRound(t, clock, 2, 1100*time.Millisecond)
	snap := b.Snapshot()
	if snap.Health != HealthUnhealthy || snap.LastProbe.OK || snap.LastProbe.Status != 503 || snap.LastProbe.Error != "status 503" {
		t.Fatalf("after two failed probes: %s %+v", snap.Health, snap.LastProbe)
	}
	if b.Available() {
		t.Error("Available is true for an unhealthy upstream")
	}
	for range 50 {
		l := mustPick(t, p, "s", nil)
		ls, err := p.Service("s").PickStream(nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.Upstream() != a || ls.Upstream() != a {
			t.Fatal("an unhealthy upstream got a new request or stream")
		}
		l.Done(Outcome{Status: 200, Latency: 5 * time.Millisecond})
		ls.Done(Outcome{Status: 200})
	}
	if _, err := p.Service("s").Pick(a); !errors.Is(err, ErrNoUpstream) {
		t.Errorf("Pick excluding the only healthy upstream: %v, want ErrNoUpstream", err)
	}
	if snap.Requests != 0 {
		t.Errorf("probes counted as %d requests", snap.Requests)
	}

	h.set(b, 204)
	probeRound(t, clock, 2, 1100*time.Millisecond)
	if b.Health() != HealthUnhealthy {
		t.Fatal("one passed probe brought it back; the threshold is 2")
	}
	probeRound(t, clock, 2, 1100*time.Millisecond)
	if b.Health() != HealthHealthy || !b.Available() {
		t.Fatal("two passed probes did not bring it back")
	}
	if la, lb := a.Latency(), b.Latency(); lb != la {
		t.Errorf("readmitted upstream's cost = %s, want its peer's %s", lb, la)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		b.String() + " down: 2 failed health checks; last: status 503",
		b.String() + " up: 2 passed health checks",
	}
	if strings.Join(changes, "\n") != strings.Join(want, "\n") {
		t.Errorf("health changes:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
}

// TestHealthCheckJitter: the first probe comes within one interval, the
// next ones every interval ±10%.
func TestHealthCheckJitter(t *testing.T) {
	_, clock, _ := healthPool(t, 3, Options{})
	for range 5 {
		probeRound(t, clock, 3, 1100*time.Millisecond)
	}
	waits := clock.Waits()
	if len(waits) != 18 {
		t.Fatalf("%d waits, want 18", len(waits))
	}
	distinct := map[time.Duration]bool{}
	for i, w := range waits {
		distinct[w] = true
		lo, hi := 900*time.Millisecond, 1100*time.Millisecond
		if i < 3 {
			lo, hi = 0, time.Second
		}
		if w < lo || w > hi {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, w, lo, hi)
		}
	}
	if len(distinct) < 15 {
		t.Errorf("only %d distinct waits of 18: no jitter", len(distinct))
	}
}

// TestHealthCheckProbersStop: removing an upstream by Replace stops its
// prober, adding one starts one, Close stops them all; with health checks
// off there is none.
func TestHealthCheckProbersStop(t *testing.T) {
	base := probers()
	p, _, _ := healthPool(t, 2, Options{})
	waitFor(t, func() bool { return probers() == base+2 }, "two probers")
	if err := p.Replace(map[string][]string{"s": urls(1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return probers() == base+1 }, "the removed upstream's prober to stop")
	if err := p.Replace(map[string][]string{"s": urls(3)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return probers() == base+3 }, "probers of the two added upstreams")
	p.Close()
	if n := probers(); n != base {
		t.Errorf("%d probers left after Close, want %d", n-base, 0)
	}
	off, _ := testPool(t, Options{Services: map[string][]string{"s": urls(2)}})
	if n := probers(); n != base {
		t.Errorf("%d probers with health checks off", n-base)
	}
	if h := off.Service("s").ups[0].Snapshot().Health; h != HealthUnchecked {
		t.Errorf("health with checks off = %s, want unchecked", h)
	}
}

// TestHealthCheckHTTP probes a real loopback server on the real clock: the
// base URL's path plus the check path, a 503 or a timeout fails, a 3xx
// passes, and probes are not requests in the stats.
func TestHealthCheckHTTP(t *testing.T) {
	var status atomic.Int64
	status.Store(200)
	var slow atomic.Bool
	var paths sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.RequestURI(), true)
		if slow.Load() {
			time.Sleep(200 * time.Millisecond)
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	p, err := New(Options{
		Services: map[string][]string{"s": {srv.URL + "/v1"}},
		HealthCheck: HealthCheck{
			Path: "/healthz?deep=1", Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond,
			UnhealthyThreshold: 1, HealthyThreshold: 1,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	u := p.Service("s").ups[0]
	lastProbe := func() ProbeSnapshot {
		if lp := u.Snapshot().LastProbe; lp != nil {
			return *lp
		}
		return ProbeSnapshot{}
	}
	waitFor(t, func() bool { return lastProbe().Status == 200 }, "a passed probe")
	if _, ok := paths.Load("/v1/healthz?deep=1"); !ok {
		t.Errorf("probe did not fetch the base path + check path")
	}
	status.Store(503)
	waitFor(t, func() bool { return u.Health() == HealthUnhealthy }, "unhealthy on 503")
	status.Store(302)
	waitFor(t, func() bool { return u.Health() == HealthHealthy }, "healthy on 302")
	slow.Store(true)
	waitFor(t, func() bool { return u.Health() == HealthUnhealthy }, "unhealthy on a timeout")
	if lp := lastProbe(); lp.OK || lp.Status != 0 || lp.Error == "" {
		t.Errorf("timed-out probe recorded as %+v", lp)
	}
	slow.Store(false)
	status.Store(200)
	waitFor(t, func() bool { return u.Health() == HealthHealthy }, "healthy again")
	if s := u.Snapshot(); s.Requests != 0 || s.Successes != 0 || s.Failures != 0 || s.LastMinuteRequests != 0 {
		t.Errorf("probes counted as traffic: %+v", s)
	}
}
