package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// checkedUpstream is a loopback upstream with a health endpoint whose
// status and whose traffic's status the test sets apart, counting each.
type checkedUpstream struct {
	srv          *httptest.Server
	healthStatus atomic.Int64 // what GET /healthz answers
	apiStatus    atomic.Int64 // what every other request answers
	probes, hits atomic.Int64
}

func newCheckedUpstream(t *testing.T) *checkedUpstream {
	t.Helper()
	u := &checkedUpstream{}
	u.healthStatus.Store(200)
	u.apiStatus.Store(200)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			u.probes.Add(1)
			w.WriteHeader(int(u.healthStatus.Load()))
			return
		}
		u.hits.Add(1)
		w.WriteHeader(int(u.apiStatus.Load()))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// upstreamHealth is the part of an upstream in /admin/stats this test reads.
type upstreamHealth struct {
	URL          string `json:"url"`
	Health       string `json:"health"`
	Requests     int64  `json:"requests"`
	ProbesPassed int64  `json:"probesPassed"`
	ProbesFailed int64  `json:"probesFailed"`
	LastProbe    *struct {
		OK     bool   `json:"ok"`
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"lastProbe"`
}

// healthOf reads url's entry in /admin/stats.
func healthOf(t *testing.T, gw string, url string) upstreamHealth {
	t.Helper()
	resp, err := http.Get(gw + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Services []struct {
			Upstreams []upstreamHealth `json:"upstreams"`
		} `json:"services"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Services {
		for _, u := range s.Upstreams {
			if u.URL == url {
				return u
			}
		}
	}
	t.Fatalf("%s not in /admin/stats", url)
	return upstreamHealth{}
}

// probeLoops counts the health checkers' prober goroutines running now.
func probeLoops() int {
	buf := make([]byte, 4<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "upstream.(*Upstream).probeLoop")
}

// TestHealthCheckTakesUpstreamOut runs the gateway in front of two real
// upstreams with health checks every 20 ms. When b's /healthz starts
// failing it is taken out of rotation, and only then does b start failing
// its traffic: no client request fails, b sees none of them. It comes back
// when /healthz passes again. Probes never count as requests, /metrics
// shows the verdict, and the probers stop on reload and shutdown.
func TestHealthCheckTakesUpstreamOut(t *testing.T) {
	base := probeLoops()
	a, b := newCheckedUpstream(t), newCheckedUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {a.srv.URL, b.srv.URL}})
	cfg.HealthCheckPath = "/healthz"
	cfg.HealthCheckInterval = 20 * time.Millisecond
	cfg.HealthCheckTimeout = 500 * time.Millisecond
	gw, served := gatewaytest.Serve(t, cfg)
	shut := false
	defer func() {
		if !shut {
			_ = gw.App.Shutdown(context.Background())
			<-served
		}
	}()
	clientGets := func(n int) {
		t.Helper()
		for i := range n {
			resp, err := http.Get(gw.URL + "/api/s/x")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("client request %d: status %d", i, resp.StatusCode)
			}
		}
	}

	gatewaytest.Eventually(t, 5*time.Second, func() bool { return healthOf(t, gw.URL, b.srv.URL).ProbesPassed >= 2 },
		"b's first probes")
	gatewaytest.Eventually(t, 5*time.Second, func() bool { clientGets(5); return b.hits.Load() > 0 }, "traffic on b")

	b.healthStatus.Store(503)
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return healthOf(t, gw.URL, b.srv.URL).Health == "unhealthy" },
		"b taken out")
	b.apiStatus.Store(500) // b fails for real now, but gets nothing
	hitsBefore := b.hits.Load()
	clientGets(50)
	if n := b.hits.Load() - hitsBefore; n != 0 {
		t.Fatalf("unhealthy b got %d client requests", n)
	}
	st := healthOf(t, gw.URL, b.srv.URL)
	if st.LastProbe == nil || st.LastProbe.OK || st.LastProbe.Status != 503 || st.ProbesFailed < 2 {
		t.Errorf("b's probe record: %+v", st)
	}
	if st.Requests != b.hits.Load() {
		t.Errorf("stats count %d requests on b, b saw %d (and %d probes)", st.Requests, b.hits.Load(), b.probes.Load())
	}
	fams := gatewaytest.Scrape(t, gw.URL)
	for _, m := range fams["gateway_upstream_healthy"].GetMetric() {
		want := 1.0
		for _, l := range m.GetLabel() {
			if l.GetName() == "upstream" && l.GetValue() == b.srv.URL {
				want = 0
			}
		}
		if got := m.GetGauge().GetValue(); got != want {
			t.Errorf("gateway_upstream_healthy %v = %g, want %g", m.GetLabel(), got, want)
		}
	}
	if n := len(fams["gateway_upstream_healthy"].GetMetric()); n != 2 {
		t.Errorf("%d gateway_upstream_healthy series, want 2", n)
	}

	b.apiStatus.Store(200)
	b.healthStatus.Store(200)
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return healthOf(t, gw.URL, b.srv.URL).Health == "healthy" },
		"b back")
	gatewaytest.Eventually(t, 5*time.Second, func() bool { clientGets(5); return b.hits.Load() > hitsBefore },
		"traffic on b again")

	if n := probeLoops() - base; n != 2 {
		t.Fatalf("%d probers running, want 2", n)
	}
	reload := gatewaytest.Config(map[string][]string{"s": {a.srv.URL}})
	if err := gw.App.Reload(reload); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return probeLoops()-base == 1 }, "b's prober to stop on reload")
	probesAfterReload := b.probes.Load()
	if err := gw.App.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-served
	shut = true
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return probeLoops() == base }, "probers to stop on shutdown")
	if n := b.probes.Load() - probesAfterReload; n > 1 { // one may have been under way
		t.Errorf("b probed %d times after its removal", n)
	}
}
