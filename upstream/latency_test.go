package upstream

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLatencyBucketBounds(t *testing.T) {
	// Every bucket holds its own bound and nothing above it.
	for i := range LatencyBuckets - 1 {
		b := int64(LatencyBound(i))
		if got := latencyBucket(b); got != i {
			t.Errorf("latencyBucket(bound %d = %s) = %d", i, time.Duration(b), got)
		}
		if got := latencyBucket(b + 1); got != i+1 {
			t.Errorf("latencyBucket(bound %d + 1ns) = %d, want %d", i, got, i+1)
		}
		if i > 0 && LatencyBound(i) <= LatencyBound(i-1) {
			t.Errorf("bounds not increasing at %d: %s <= %s", i, LatencyBound(i), LatencyBound(i-1))
		}
	}
	if LatencyBound(LatencyBuckets-1) != math.MaxInt64 {
		t.Errorf("last bound = %s, want none", LatencyBound(LatencyBuckets-1))
	}
	tests := []struct {
		name string
		ns   int64
		want time.Duration // bound of the bucket
	}{
		{"zero", 0, 10 * time.Microsecond},
		{"negative is clamped by record, bucket 0 here", -5, 10 * time.Microsecond},
		{"just above 1ms", int64(time.Millisecond) + 1, 1200 * time.Microsecond},
		{"2.4ms", int64(2400 * time.Microsecond), 2500 * time.Microsecond},
		{"7ms", int64(7 * time.Millisecond), 8 * time.Millisecond},
		{"99s", int64(99 * time.Second), 100 * time.Second},
		{"hours", int64(3 * time.Hour), math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LatencyBound(latencyBucket(tt.ns)); got != tt.want {
				t.Errorf("bucket bound of %d ns = %s, want %s", tt.ns, got, tt.want)
			}
		})
	}
}

func TestPrometheusBoundsAreBucketBounds(t *testing.T) {
	// The bounds an operator writes in PromQL must be exact.
	bounds := map[time.Duration]bool{}
	for i := range LatencyBuckets - 1 {
		bounds[LatencyBound(i)] = true
	}
	for _, s := range []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60} {
		if d := time.Duration(s * float64(time.Second)); !bounds[d] {
			t.Errorf("%s is not a bucket bound", d)
		}
	}
}

func TestLatencyHistogramQuantile(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
		tol     time.Duration
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one sample lands in its bucket", []time.Duration{10 * ms}, 0.5, 9 * ms, ms},
		{"p50 of a bimodal set", append(durations(1*ms, 50), durations(100*ms, 50)...), 0.5, ms, 200 * time.Microsecond},
		{"p99 of a bimodal set", append(durations(1*ms, 50), durations(100*ms, 50)...), 0.99, 100 * ms, 20 * ms},
		{"p95 with a slow tail", append(durations(5*ms, 90), durations(2*time.Second, 10)...), 0.95, 2 * time.Second, 500 * ms},
		{"beyond the last bound", []time.Duration{time.Hour}, 0.5, 100 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h LatencyHistogram
			for _, s := range tt.samples {
				h.Counts[latencyBucket(int64(s))]++
				h.Sum += s
			}
			got := h.Quantile(tt.q)
			if d := got - tt.want; d < -tt.tol || d > tt.tol {
				t.Errorf("Quantile(%g) = %s, want %s ± %s", tt.q, got, tt.want, tt.tol)
			}
			if h.Count() != uint64(len(tt.samples)) {
				t.Errorf("Count = %d, want %d", h.Count(), len(tt.samples))
			}
		})
	}
}

func TestCountAtMost(t *testing.T) {
	var h LatencyHistogram
	for _, s := range []time.Duration{time.Millisecond, 3 * time.Millisecond, time.Second, time.Hour} {
		h.Counts[latencyBucket(int64(s))]++
	}
	tests := []struct {
		le   time.Duration
		want uint64
	}{
		{500 * time.Microsecond, 0}, {time.Millisecond, 1}, {5 * time.Millisecond, 2},
		{time.Second, 3}, {100 * time.Second, 3}, {math.MaxInt64, 4},
	}
	for _, tt := range tests {
		if got := h.CountAtMost(tt.le); got != tt.want {
			t.Errorf("CountAtMost(%s) = %d, want %d", tt.le, got, tt.want)
		}
	}
}

func durations(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// TestLatencyStatsWindows drives one upstream on the fake clock and checks
// the windows of a snapshot: the since-start histogram keeps everything, the
// quantiles see the last minute, the rate the last 10s, the history each
// complete second.
func TestLatencyStatsWindows(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}})
	u := p.Service("s").ups[0]
	done := func(n int, d time.Duration) {
		for range n {
			l := mustPick(t, p, "s", nil)
			l.Done(Outcome{Status: 200, Latency: d})
		}
	}
	done(100, 500*time.Millisecond) // second 0: slow, soon out of the window
	clock.Advance(61 * time.Second)
	done(30, 10*time.Millisecond) // second 61
	clock.Advance(5 * time.Second)
	done(20, 20*time.Millisecond) // second 66
	mustPick(t, p, "s", nil).Done(Outcome{Canceled: true, Latency: time.Hour})
	clock.Advance(1500 * time.Millisecond) // now 67.5s

	s := u.Snapshot().LatencyStats
	if got := s.Latency.Count(); got != 150 {
		t.Errorf("since-start count = %d, want 150 (canceled gives no sample)", got)
	}
	if want := 100*500*time.Millisecond + 30*10*time.Millisecond + 20*20*time.Millisecond; s.Latency.Sum != want {
		t.Errorf("sum = %s, want %s", s.Latency.Sum, want)
	}
	if s.LastMinuteRequests != 50 {
		t.Errorf("last minute = %d, want 50 (second 0 has left the window)", s.LastMinuteRequests)
	}
	if s.P50 < 8*time.Millisecond || s.P50 > 10*time.Millisecond || s.P99 < 16*time.Millisecond || s.P99 > 20*time.Millisecond {
		t.Errorf("p50 %s p99 %s, want about 10ms and 20ms", s.P50, s.P99)
	}
	if math.Abs(s.P95Millis-millis(s.P95)) > 1e-9 || s.P95 < s.P50 || s.P99 < s.P95 {
		t.Errorf("quantiles inconsistent: %+v", s)
	}
	if want := 50 / 9.5; math.Abs(s.RequestsPerSecond-want) > 1e-9 {
		t.Errorf("rps = %g, want %g (seconds 61 and 66: 50 requests over 9.5s)", s.RequestsPerSecond, want)
	}
	// History covers seconds 7..66: second 61 at index 54, 66 at index 59.
	h := s.History
	if want := clock.Now().Add(-67500 * time.Millisecond).Add(7 * time.Second); !h.Start.Equal(want) {
		t.Errorf("history start = %v, want %v", h.Start, want)
	}
	if h.Requests[54] != 30 || h.Requests[59] != 20 || h.Requests[0] != 0 || h.Requests[55] != 0 {
		t.Errorf("history requests = %v", h.Requests)
	}
	if h.P95Millis[54] < 8 || h.P95Millis[54] > 10 || h.P95Millis[59] < 16 || h.P95Millis[59] > 20 || h.P95Millis[58] != 0 {
		t.Errorf("history p95 = %v", h.P95Millis)
	}
	raw, err := json.Marshal(u.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"p50Ms":`, `"p95Ms":`, `"p99Ms":`, `"rps":`, `"lastMinuteRequests":50`, `"history":{"start":`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s: %s", key, raw)
		}
	}
}

func TestLatencyRingLaps(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}})
	u := p.Service("s").ups[0]
	// One request per second for three laps of the ring: every snapshot
	// sees exactly the last minute, never a slot from an older lap.
	for sec := range 3 * ringSlots {
		mustPick(t, p, "s", nil).Done(Outcome{Status: 200, Latency: time.Millisecond})
		s := u.Snapshot()
		if want := uint64(min(sec+1, quantileSeconds)); s.LastMinuteRequests != want {
			t.Fatalf("second %d: last minute = %d, want %d", sec, s.LastMinuteRequests, want)
		}
		clock.Advance(time.Second)
	}
}

// TestLatencyConcurrent records from many goroutines while snapshots are
// read (run with -race); the since-start histogram loses nothing.
func TestLatencyConcurrent(t *testing.T) {
	p, err := New(Options{Services: map[string][]string{"s": urls(2)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.Snapshot()
			}
		}
	}()
	for range workers {
		wg.Go(func() {
			for i := range each {
				l, err := p.Service("s").Pick(nil)
				if err != nil {
					t.Error(err)
					return
				}
				l.Done(Outcome{Status: 200, Latency: time.Duration(i) * time.Microsecond})
			}
		})
	}
	wg.Wait()
	close(stop)
	<-stopped
	var total uint64
	for _, svc := range p.Snapshot().Services {
		for _, u := range svc.Upstreams {
			total += u.Latency.Count()
		}
	}
	if total != workers*each {
		t.Errorf("histograms hold %d samples, want %d", total, workers*each)
	}
}
