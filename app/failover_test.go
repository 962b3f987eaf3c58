package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gateway/app"
	"gateway/internal/gatewaytest"
	"gateway/upstream"
)

// hangupUpstream reads each request whole and then drops the connection
// without answering: the "reset before any response byte" failure.
func hangupUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestRetryOnAnotherUpstreamButNeverAPost(t *testing.T) {
	bad, badHits := hangupUpstream(t)
	good, goodHits := echoUpstream(t, "good")
	cfg := gatewaytest.Config(map[string][]string{"s": {bad.URL, good.URL}})
	cfg.CBFailureThreshold = 1000 // keep the bad one in rotation
	var logs app.LogBuffer
	gw := gatewaytest.StartLogged(t, cfg, &logs)

	for i := 0; i < 30; i++ {
		resp, err := http.Get(gw.URL + "/api/s/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %d: status %d; an idempotent request that failed before any response must be retried", i, resp.StatusCode)
		}
	}
	if badHits.Load() == 0 {
		t.Fatal("the failing upstream was never tried; the test proves nothing")
	}
	if !strings.Contains(logs.String(), `"retries":1`) {
		t.Fatal("no access log line records the retry")
	}

	badHits.Store(0)
	goodHits.Store(0)
	failed := 0
	for i := 0; i < 30; i++ {
		resp, err := http.Post(gw.URL+"/api/s/x", "text/plain", strings.NewReader("pay once"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 502 {
			failed++
		}
	}
	if total := badHits.Load() + goodHits.Load(); total != 30 {
		t.Fatalf("30 POSTs reached upstreams %d times: a POST was duplicated", total)
	}
	if int64(failed) != badHits.Load() {
		t.Fatalf("%d POSTs failed but the bad upstream took %d", failed, badHits.Load())
	}
}

func TestFailoverWhenAnUpstreamDies(t *testing.T) {
	a, _ := echoUpstream(t, "a")
	// b answers in 5 ms, so a is the faster one the gateway prefers and the
	// one traffic meets when it dies.
	var bHits atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHits.Add(1)
		time.Sleep(5 * time.Millisecond) // b's service time, not a test wait
	}))
	t.Cleanup(b.Close)
	cfg := gatewaytest.Config(map[string][]string{"s": {a.URL, b.URL}})
	cfg.CBFailureThreshold = 3
	cfg.CBCooldown = time.Minute
	gw := gatewaytest.Start(t, cfg)

	get := func() int {
		resp, err := http.Get(gw.URL + "/api/s/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 10; i++ {
		if st := get(); st != 200 {
			t.Fatalf("warm-up status %d", st)
		}
	}
	a.CloseClientConnections()
	a.Close()
	// Every GET succeeds: failures before any response are retried on b,
	// and once a's breaker opens it is not even tried.
	for i := 0; i < 200; i++ {
		if st := get(); st != 200 {
			t.Fatalf("GET %d after upstream death: status %d", i, st)
		}
	}
	// The dead upstream is out of rotation: either its breaker opened or the
	// failure penalty on its latency score keeps P2C from picking it (which
	// of the two acts first depends on scheduling); either way it is tried
	// no more.
	before, aBefore := bHits.Load(), upstreamOf(t, gw, a.URL)
	for i := 0; i < 50; i++ {
		get()
	}
	if got := bHits.Load() - before; got != 50 {
		t.Fatalf("after the failover, b took %d of 50", got)
	}
	aAfter := upstreamOf(t, gw, a.URL)
	if aAfter.Failures == 0 {
		t.Fatal("the dead upstream recorded no failure")
	}
	if tried := aAfter.Requests - aBefore.Requests; tried != 0 && aAfter.State.String() != "open" {
		t.Fatalf("the dead upstream was still tried %d times in 50 and its breaker is %q", tried, aAfter.State)
	}
}

// upstreamOf returns the pool's snapshot of the upstream at url.
func upstreamOf(t *testing.T, gw *gatewaytest.Gateway, url string) upstream.UpstreamSnapshot {
	t.Helper()
	for _, svc := range gw.App.Pool().Snapshot().Services {
		for _, u := range svc.Upstreams {
			if u.URL == url {
				return u
			}
		}
	}
	t.Fatalf("no upstream %s in the pool", url)
	return upstream.UpstreamSnapshot{}
}

func TestSlowUpstreamGetsLessTraffic(t *testing.T) {
	var fastHits, slowHits atomic.Int64
	mk := func(delay time.Duration, hits *atomic.Int64) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			time.Sleep(delay) // the upstream's service time, not a test wait
		}))
		t.Cleanup(s.Close)
		return s
	}
	fast := mk(time.Millisecond, &fastHits)
	// 100× slower: on a busy machine the fast one's own latency grows by
	// scheduling delays, and the share must still fall clearly.
	slow := mk(100*time.Millisecond, &slowHits)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {fast.URL, slow.URL}}))

	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				resp, err := http.Get(gw.URL + "/api/s/x")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	total := fastHits.Load() + slowHits.Load()
	if total != 400 {
		t.Fatalf("upstreams saw %d requests, want 400", total)
	}
	if share := float64(slowHits.Load()) / float64(total); share > 0.25 {
		t.Fatalf("slow upstream got %.0f%% of traffic, want well under half (≤ 25%%)", share*100)
	}
}
