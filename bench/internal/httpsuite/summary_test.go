package httpsuite

import (
	"testing"
	"time"

	"gateway/bench/internal/loadgen"
	"gateway/bench/internal/proc"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9, 9, 1, 100, 2}, 9},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSummarizeRound(t *testing.T) {
	r := summarize(Round{Result: loadgen.Result{Requests: 100_000, Elapsed: 2 * time.Second}},
		proc.Sample{User: 500 * time.Millisecond, System: 1500 * time.Millisecond},
		proc.Sample{User: time.Second}, 30_000, 31_000)
	if r.RPS != 50_000 || r.CPUPerReq != 20 || r.UserPerReq != 5 || r.SysPerReq != 15 ||
		r.UpstreamPerReq != 10 || r.CPUCores != 1 || r.PeakRSSKiB != 30_000 || r.HWMKiB != 31_000 {
		t.Errorf("summarize: %+v", r)
	}
	if z := summarize(Round{}, proc.Sample{User: time.Second}, proc.Sample{}, 0, 0); z.CPUPerReq != 0 || z.CPUCores != 0 {
		t.Errorf("no requests: %+v", z)
	}
}

func TestSummaries(t *testing.T) {
	round := func(target string, n int, cpu float64, p99 time.Duration, non2xx uint64) Round {
		return Round{Scenario: "get", Load: "closed", Target: target, Round: n, CPUPerReq: cpu, RPS: 1000 * cpu,
			Result: loadgen.Result{Non2xx: non2xx, Latency: loadgen.Latency{P99: p99}}}
	}
	rs := []Round{
		round("gateway", 1, 30, 4*time.Millisecond, 0), round("nginx", 1, 20, 3*time.Millisecond, 0),
		round("gateway", 2, 26, 5*time.Millisecond, 2), round("nginx", 2, 19, 3*time.Millisecond, 0),
		round("gateway", 3, 25, 6*time.Millisecond, 0), round("nginx", 3, 21, 2*time.Millisecond, 1),
	}
	s := summaries(rs)
	if len(s) != 2 || s[0].Target != "gateway" || s[1].Target != "nginx" {
		t.Fatalf("summaries: %+v", s)
	}
	g, n := s[0], s[1]
	if g.CPUPerReq != 26 || g.CPUMin != 25 || g.CPUMax != 30 || g.P99 != 5 || g.Failures != 2 || g.Rounds != 3 {
		t.Errorf("gateway: %+v", g)
	}
	if n.CPUPerReq != 20 || n.VsNginx != 1 || g.VsNginx != 26.0/20 || n.Failures != 1 {
		t.Errorf("ratios: gateway %v nginx %v", g.VsNginx, n.VsNginx)
	}
}
