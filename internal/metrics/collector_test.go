package metrics

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"gateway/upstream"
)

// fixedPool is a Snapshotter with a fixed snapshot.
type fixedPool struct{ s upstream.Snapshot }

func (p fixedPool) Snapshot() upstream.Snapshot { return p.s }

// histogramOf returns a histogram of the given samples.
func histogramOf(samples ...time.Duration) upstream.LatencyHistogram {
	var h upstream.LatencyHistogram
	for _, s := range samples {
		i := 0
		for upstream.LatencyBound(i) < s {
			i++
		}
		h.Counts[i]++
		h.Sum += s
	}
	return h
}

func testSnapshot() upstream.Snapshot {
	a1 := upstream.UpstreamSnapshot{
		Service: "users", URL: "http://a1:8080", Requests: 12, Successes: 7, Failures: 3, Canceled: 1, Retries: 2,
		Inflight: 1, EWMA: 40 * time.Millisecond, State: upstream.StateOpen, Trips: 4, ActiveSSE: 5, ActiveWebSocket: 6,
		ConnsDiscarded: upstream.ConnDiscards{UnreadBytes: 8, IdleBytes: 9, IdleClosed: 10},
		Health:         upstream.HealthUnhealthy, ProbesPassed: 11, ProbesFailed: 2,
	}
	a1.Latency = histogramOf(time.Millisecond, 3*time.Millisecond, 3*time.Millisecond, 2*time.Second, time.Hour)
	b1 := upstream.UpstreamSnapshot{Service: "orders", URL: "http://b1", State: upstream.StateHalfOpen}
	return upstream.Snapshot{
		Services: []upstream.ServiceSnapshot{
			{Name: "orders", Upstreams: []upstream.UpstreamSnapshot{b1}},
			{Name: "users", Upstreams: []upstream.UpstreamSnapshot{a1}},
		},
		RetryBudget: upstream.RetryBudgetSnapshot{Active: 1, Limit: 3},
	}
}

// gather registers c alone on a pedantic registry, which checks every
// metric against its description, and returns "name{k=v,…}" → value.
func gather(t *testing.T, c prometheus.Collector) (map[string]float64, map[string]*dto.Histogram) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	values := map[string]float64{}
	hists := map[string]*dto.Histogram{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := seriesKey(f.GetName(), m)
			switch {
			case m.GetCounter() != nil:
				values[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				values[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				hists[key] = m.GetHistogram()
			}
		}
	}
	return values, hists
}

func seriesKey(name string, m *dto.Metric) string {
	var labels []string
	for _, l := range m.GetLabel() {
		labels = append(labels, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

func TestCollectorUpstreamMetrics(t *testing.T) {
	build := BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26"}
	values, hists := gather(t, NewCollector(fixedPool{testSnapshot()}, build, Sources{}))
	const a1 = "service=users,upstream=http://a1:8080"
	tests := []struct {
		series string
		want   float64
	}{
		{"gateway_build_info{commit=abc,goversion=go1.26,version=v1.2.3}", 1},
		{"gateway_retry_budget_active{}", 1},
		{"gateway_retry_budget_limit{}", 3},
		{"gateway_upstream_requests_total{outcome=success," + a1 + "}", 7},
		{"gateway_upstream_requests_total{outcome=failure," + a1 + "}", 3},
		{"gateway_upstream_requests_total{outcome=canceled," + a1 + "}", 1},
		{"gateway_upstream_requests_in_flight{" + a1 + "}", 1},
		{"gateway_upstream_peak_ewma_seconds{" + a1 + "}", 0.04},
		{"gateway_upstream_breaker_state{" + a1 + "}", 2},
		{"gateway_upstream_breaker_state{service=orders,upstream=http://b1}", 1},
		{"gateway_upstream_breaker_trips_total{" + a1 + "}", 4},
		{"gateway_upstream_retries_total{" + a1 + "}", 2},
		{"gateway_sse_streams_active{" + a1 + "}", 5},
		{"gateway_websocket_bridges_active{" + a1 + "}", 6},
		{"gateway_upstream_conns_discarded_total{reason=unread_bytes," + a1 + "}", 8},
		{"gateway_upstream_conns_discarded_total{reason=idle_bytes," + a1 + "}", 9},
		{"gateway_upstream_conns_discarded_total{reason=idle_closed," + a1 + "}", 10},
		{"gateway_upstream_healthy{" + a1 + "}", 0},
		{"gateway_upstream_health_probes_total{result=pass," + a1 + "}", 11},
		{"gateway_upstream_health_probes_total{result=fail," + a1 + "}", 2},
	}
	for _, tt := range tests {
		t.Run(tt.series, func(t *testing.T) {
			got, ok := values[tt.series]
			if !ok {
				t.Fatalf("missing; have %v", keys(values))
			}
			if got != tt.want {
				t.Errorf("= %g, want %g", got, tt.want)
			}
		})
	}
	for name := range values {
		if strings.HasPrefix(name, "gateway_cache") || strings.HasPrefix(name, "gateway_websocket_messages") ||
			strings.HasPrefix(name, "gateway_rate_limited") || strings.HasPrefix(name, "gateway_load_shed") ||
			strings.Contains(name, "upstream=http://b1") && strings.HasPrefix(name, "gateway_upstream_health") {
			t.Errorf("%s exported without its source", name)
		}
	}

	h := hists["gateway_upstream_request_duration_seconds{"+a1+"}"]
	if h == nil {
		t.Fatalf("no latency histogram; have %v", hists)
	}
	if h.GetSampleCount() != 5 || h.GetSampleSum() != 3602.007 {
		t.Errorf("histogram count %d sum %g, want 5 and 3602.007", h.GetSampleCount(), h.GetSampleSum())
	}
	wantBuckets := map[float64]uint64{0.0005: 0, 0.001: 1, 0.0025: 1, 0.005: 3, 1: 3, 2.5: 4, 60: 4}
	for _, b := range h.GetBucket() {
		if want, ok := wantBuckets[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%g has %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if len(h.GetBucket()) != len(LatencyBuckets()) {
		t.Errorf("%d buckets, want %d", len(h.GetBucket()), len(LatencyBuckets()))
	}
}

func TestCollectorSources(t *testing.T) {
	src := Sources{
		WebSocket: func() WebSocketStats {
			return WebSocketStats{MessagesToUpstream: 3, MessagesToClient: 4, BytesToUpstream: 30, BytesToClient: 40,
				Closes: map[string]int64{"1000": 2, "1006": 1, "other": 4}}
		},
		RateLimited: func() int64 { return 9 },
		Cache:       func() CacheStats { return CacheStats{Hits: 5, Misses: 6, Bypasses: 7} },
		Shed:        func() ShedStats { return ShedStats{Inflight: 11, Pressure: 12} },
		Conns:       func() ConnStats { return ConnStats{Open: 13, RefusedPerIP: 14, RefusedTotal: 15} },
		Panics:      func() int64 { return 16 },
	}
	values, _ := gather(t, NewCollector(fixedPool{}, BuildInfo{}, src))
	want := map[string]float64{
		"gateway_websocket_messages_total{direction=to_upstream}": 3,
		"gateway_websocket_messages_total{direction=to_client}":   4,
		"gateway_websocket_bytes_total{direction=to_upstream}":    30,
		"gateway_websocket_bytes_total{direction=to_client}":      40,
		"gateway_websocket_closes_total{code=1000}":               2,
		"gateway_websocket_closes_total{code=1006}":               1,
		"gateway_rate_limited_total{}":                            9,
		"gateway_cache_requests_total{result=hit}":                5,
		"gateway_cache_requests_total{result=miss}":               6,
		"gateway_cache_requests_total{result=bypass}":             7,
		"gateway_load_shed_total{reason=inflight}":                11,
		"gateway_load_shed_total{reason=pressure}":                12,
		"gateway_websocket_closes_total{code=other}":              4,
		"gateway_client_connections_open{}":                       13,
		"gateway_client_connections_refused_total{limit=per_ip}":  14,
		"gateway_client_connections_refused_total{limit=total}":   15,
		"gateway_panics_total{}":                                  16,
	}
	for series, v := range want {
		if got, ok := values[series]; !ok || got != v {
			t.Errorf("%s = %g (present %v), want %g", series, got, ok, v)
		}
	}
}

func TestLatencyBucketsAreExact(t *testing.T) {
	bounds := map[time.Duration]bool{}
	for i := range upstream.LatencyBuckets {
		bounds[upstream.LatencyBound(i)] = true
	}
	for _, le := range LatencyBuckets() {
		if !bounds[le] {
			t.Errorf("%s is not an upstream.LatencyHistogram bound: its count would be approximate", le)
		}
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg, NewCollector(fixedPool{testSnapshot()}, ReadBuildInfo(), Sources{})); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "gateway_build_info", "gateway_upstream_requests_total"} {
		if !have[name] {
			t.Errorf("registry lacks %s", name)
		}
	}
}

func TestReadBuildInfo(t *testing.T) {
	b := ReadBuildInfo()
	if b.Version == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Errorf("build info %+v", b)
	}
}

func keys(m map[string]float64) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}
