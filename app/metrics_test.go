package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"gateway/internal/gatewaytest"
)

// scrape GETs /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	return gatewaytest.Scrape(t, base)
}

// value sums the samples of family name whose labels include want: the
// value of a counter or gauge, the sample count of a histogram.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// get sends n GETs to url and returns how many answered 200.
func get(t *testing.T, url string, n int) int {
	t.Helper()
	ok := 0
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			ok++
		}
	}
	return ok
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	gw, a, b := preferredDies(t)

	before := scrape(t, gw.URL)
	if got := get(t, gw.URL+"/api/users/items/7?q=1", 20); got != 20 {
		t.Fatalf("%d of 20 proxied GETs answered 200", got)
	}
	get(t, gw.URL+"/api/nosuch/x", 1)
	b.CloseClientConnections()
	b.Close()
	// b now refuses connections: requests fail over to a until b's breaker opens.
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		get(t, gw.URL+"/api/users/x", 1)
		return upstreamState(gw, b.URL) == "open"
	}, "b's breaker to open")
	after := scrape(t, gw.URL)

	users := map[string]string{"service": "users"}
	at := func(url string, more ...string) map[string]string {
		l := map[string]string{"service": "users", "upstream": url}
		for i := 0; i+1 < len(more); i += 2 {
			l[more[i]] = more[i+1]
		}
		return l
	}
	route := map[string]string{"path": "/api/:service/*", "method": "GET", "status_code": "200"}
	tests := []struct {
		name      string
		metric    string
		labels    map[string]string
		wantDelta func(float64) bool
		want      string
	}{
		{"HTTP requests by route template", "gateway_http_requests_total", route, atLeast(21), ">= 21"},
		{"HTTP latency by route template", "gateway_http_request_duration_seconds", route, atLeast(21), ">= 21"},
		{"404 of an unknown service", "gateway_http_requests_total",
			map[string]string{"path": "/api/:service/*", "status_code": "404"}, equal(1), "1"},
		{"upstream successes", "gateway_upstream_requests_total",
			map[string]string{"service": "users", "outcome": "success"}, atLeast(21), ">= 21"},
		{"failures of the dead upstream", "gateway_upstream_requests_total", at(b.URL, "outcome", "failure"), atLeast(1), ">= 1"},
		{"latency samples", "gateway_upstream_request_duration_seconds", users, atLeast(21), ">= 21"},
		{"breaker trips", "gateway_upstream_breaker_trips_total", at(b.URL), equal(1), "1"},
		{"retries onto the live upstream", "gateway_upstream_retries_total", at(b.URL), atLeast(1), ">= 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := value(after, tt.metric, tt.labels) - value(before, tt.metric, tt.labels)
			if !tt.wantDelta(d) {
				t.Errorf("%s%v moved by %g, want %s", tt.metric, tt.labels, d, tt.want)
			}
		})
	}

	gauges := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"gateway_upstream_breaker_state", at(b.URL), 2},
		{"gateway_upstream_breaker_state", at(a.URL), 0},
		{"gateway_upstream_requests_in_flight", users, 0},
		{"gateway_build_info", nil, 1},
	}
	for _, g := range gauges {
		if got := value(after, g.metric, g.labels); got != g.want {
			t.Errorf("%s%v = %g, want %g", g.metric, g.labels, got, g.want)
		}
	}
	if f := after["gateway_upstream_peak_ewma_seconds"]; f == nil || len(f.GetMetric()) != 2 {
		t.Errorf("peak EWMA gauge: %v", f)
	}
	if f := after["gateway_build_info"]; f == nil || !strings.HasPrefix(labelOf(f.GetMetric()[0], "goversion"), "go") {
		t.Errorf("build info: %v", f)
	}
	// Label cardinality: never a raw path or request id.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "items") || strings.Contains(l.GetValue(), "nosuch") {
					t.Errorf("%s has a request-specific label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func atLeast(n float64) func(float64) bool { return func(d float64) bool { return d >= n } }
func equal(n float64) func(float64) bool   { return func(d float64) bool { return d == n } }

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// upstreamState returns the breaker state of the upstream with base URL url.
func upstreamState(gw *gatewaytest.Gateway, url string) string {
	for _, svc := range gw.App.Pool().Snapshot().Services {
		for _, u := range svc.Upstreams {
			if u.URL == url {
				return u.State.String()
			}
		}
	}
	return ""
}
