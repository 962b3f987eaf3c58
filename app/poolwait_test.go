package app_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// bodyReader is a loopback upstream that reads every request body whole
// before answering 200, counting the requests whose body it is reading:
// a stalled upload holds one of its connections for as long as it stalls.
func bodyReader(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var reading atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reading.Add(1)
		defer reading.Add(-1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &reading
}

// stalledUpload opens a raw connection to the gateway and sends a POST
// head announcing size bytes and the first part of its body, then falls
// silent; send the rest with the returned function.
func stalledUpload(t *testing.T, addr string, size int) (conn net.Conn, rest func()) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	head := "POST /api/s/upload HTTP/1.1\r\nHost: gw\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
		strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(c, head+strings.Repeat("a", size/2)); err != nil {
		t.Fatal(err)
	}
	return c, func() {
		if _, err := io.WriteString(c, strings.Repeat("b", size-size/2)); err != nil {
			t.Errorf("finishing the upload: %v", err)
		}
	}
}

// upstreamStats is the part of an upstream's /admin/stats entry the pool
// tests read.
type upstreamStats struct {
	State    string `json:"state"`
	Trips    int    `json:"trips"`
	Failures int64  `json:"failures"`
	PoolFull int64  `json:"poolFull"`
}

func adminUpstream(t *testing.T, base string) upstreamStats {
	t.Helper()
	resp, err := http.Get(base + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Services []struct {
			Upstreams []upstreamStats `json:"upstreams"`
		} `json:"services"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decoding /admin/stats: %v", err)
	}
	if len(doc.Services) != 1 || len(doc.Services[0].Upstreams) != 1 {
		t.Fatalf("/admin/stats: want one service with one upstream, got %+v", doc.Services)
	}
	return doc.Services[0].Upstreams[0]
}

// Four stalled uploads hold all four connections of UPSTREAM_MAX_CONNS=4.
// Every further request is the gateway's own limit, not the upstream's
// failure: 503 with Retry-After once UPSTREAM_POOL_WAIT_MS has passed, no
// breaker failure (the breaker stays closed however many are refused), and
// the service answers at once when the uploads finish.
func TestPoolExhaustionNeverTripsTheBreaker(t *testing.T) {
	up, reading := bodyReader(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.UpstreamMaxConns = 4
	cfg.UpstreamPoolWait = 200 * time.Millisecond
	cfg.CBFailureThreshold = 2
	cfg.CBCooldown = time.Minute
	gw := gatewaytest.Start(t, cfg)

	const size = 256 << 10 // past every buffer on the way, so the upstream sees the head
	var finish []func()
	for range 4 {
		_, rest := stalledUpload(t, gw.Addr, size)
		finish = append(finish, rest)
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return reading.Load() == 4 },
		"four stalled uploads to hold the upstream's four connections")

	client := &http.Client{Timeout: 4 * time.Second}
	for i := range 6 {
		start := time.Now()
		resp, err := client.Get(gw.URL + "/api/s/x")
		if err != nil {
			t.Fatalf("GET %d while the pool is full: %v", i, err)
		}
		took := time.Since(start)
		if resp.StatusCode != http.StatusServiceUnavailable {
			resp.Body.Close()
			t.Fatalf("GET %d while the pool is full: status %d, want 503", i, resp.StatusCode)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("GET %d: Retry-After %q, want 1 (the pool wait rounded up)", i, ra)
		}
		readError(t, resp)
		if took < cfg.UpstreamPoolWait {
			t.Errorf("GET %d answered after %v, before the pool wait %v", i, took, cfg.UpstreamPoolWait)
		}
	}

	st := adminUpstream(t, gw.URL)
	if st.State != "closed" || st.Trips != 0 || st.Failures != 0 {
		t.Fatalf("after pool exhaustion: breaker %s, %d trips, %d failures; the gateway's own limit was blamed on the upstream",
			st.State, st.Trips, st.Failures)
	}
	if st.PoolFull != 6 {
		t.Errorf("poolFull %d, want 6", st.PoolFull)
	}

	for _, rest := range finish {
		rest()
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return reading.Load() == 0 }, "the uploads to finish")
	resp, err := client.Get(gw.URL + "/api/s/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("after the stall: %d %q, want the upstream's 200 at once", resp.StatusCode, body)
	}
}
