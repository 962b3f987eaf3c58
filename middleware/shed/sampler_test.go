package shed

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	// Boundaries as runtime/metrics gives them: -Inf, 0, then growing, +Inf.
	buckets := []float64{math.Inf(-1), 0, 0.001, 0.002, 0.005, 0.010, inf}
	ms := time.Millisecond
	tests := []struct {
		name      string
		prev, cur []uint64
		want      time.Duration
	}{
		{"no events", []uint64{0, 0, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 0, 0}, 0},
		{"no new events", []uint64{0, 5, 5, 0, 0, 0}, []uint64{0, 5, 5, 0, 0, 0}, 0},
		{"one bucket: its upper bound", []uint64{0, 0, 0, 0, 0, 0}, []uint64{0, 0, 10, 0, 0, 0}, 2 * ms},
		{"99 fast, 1 slow: p99 is fast", []uint64{0, 0, 0, 0, 0, 0}, []uint64{0, 99, 0, 0, 1, 0}, 1 * ms},
		{"98 fast, 2 slow: p99 is slow", []uint64{0, 0, 0, 0, 0, 0}, []uint64{0, 98, 0, 0, 2, 0}, 10 * ms},
		{"old slow events do not count", []uint64{0, 0, 0, 0, 0, 1000}, []uint64{0, 100, 0, 0, 0, 1000}, 1 * ms},
		{"only new slow events count", []uint64{0, 1000, 0, 0, 0, 0}, []uint64{0, 1000, 0, 0, 0, 3}, 10 * ms},
		{"open top bucket: its lower bound", []uint64{0, 0, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 0, 4}, 10 * ms},
		{"counter went backwards counts 0", []uint64{0, 9, 0, 0, 0, 0}, []uint64{0, 5, 1, 0, 0, 0}, 2 * ms},
		{"shape change counts cur", []uint64{1}, []uint64{0, 0, 0, 7, 0, 0}, 5 * ms},
		{"below zero reads 0", []uint64{0, 0, 0, 0, 0, 0}, []uint64{3, 0, 0, 0, 0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := histogramQuantile(tt.prev, tt.cur, buckets, 0.99); got != tt.want {
				t.Fatalf("p99 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuntimeSampler(t *testing.T) {
	r := newRuntimeSampler()
	first := r.read()
	if first.HeapBytes == 0 || first.Goroutines == 0 {
		t.Fatalf("first sample %+v: heap and goroutines must be read", first)
	}
	if first.SchedLatencyP99 != 0 {
		t.Fatalf("first sample p99 = %v, want 0 (baseline only)", first.SchedLatencyP99)
	}
	// Make the scheduler work so the next delta has events.
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	second := r.read()
	if second.SchedLatencyP99 <= 0 || second.SchedLatencyP99 > time.Minute {
		t.Fatalf("second sample p99 = %v, want a small positive latency", second.SchedLatencyP99)
	}
}
