package shed

import (
	"math"
	"runtime/metrics"
	"time"
)

// The runtime/metrics names the Shedder reads.
const (
	metricHeapObjects   = "/memory/classes/heap/objects:bytes"
	metricGoroutines    = "/sched/goroutines:goroutines"
	metricSchedLatency  = "/sched/latencies:seconds"
	schedLatencyPercent = 0.99
)

// runtimeSampler reads the Shedder's readings from runtime/metrics. The
// scheduling latency histogram is cumulative since the process started, so
// it keeps the previous counts and reports the p99 of the difference: the
// latency of the last interval, not of the process's whole life. It is
// used by one goroutine at a time.
type runtimeSampler struct {
	samples []metrics.Sample
	prev    []uint64 // latency counts at the previous sample; nil before the first
}

// newRuntimeSampler returns a sampler with its metric samples allocated once.
func newRuntimeSampler() *runtimeSampler {
	return &runtimeSampler{samples: []metrics.Sample{
		{Name: metricHeapObjects}, {Name: metricGoroutines}, {Name: metricSchedLatency},
	}}
}

// read takes one sample. The first reports a p99 of 0: it only sets the
// baseline the next one subtracts.
func (r *runtimeSampler) read() Readings {
	metrics.Read(r.samples)
	out := Readings{
		HeapBytes:  uint64Value(r.samples[0].Value),
		Goroutines: uint64Value(r.samples[1].Value),
	}
	if v := r.samples[2].Value; v.Kind() == metrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		if r.prev != nil {
			out.SchedLatencyP99 = histogramQuantile(r.prev, h.Counts, h.Buckets, schedLatencyPercent)
		}
		r.prev = append(r.prev[:0], h.Counts...)
	}
	return out
}

// uint64Value is v's value, or 0 when this Go release lacks the metric.
func uint64Value(v metrics.Value) uint64 {
	if v.Kind() != metrics.KindUint64 {
		return 0
	}
	return v.Uint64()
}

// histogramQuantile returns the q quantile of the events counted between
// two snapshots of a cumulative runtime/metrics histogram (counts prev,
// then cur; seconds boundaries buckets). It reports the upper bound of the
// bucket the quantile falls in, so the answer errs high, as a limit should;
// for the open top bucket, its lower bound. No events give 0. A snapshot
// pair of different shapes (never, for one metric) counts cur alone.
func histogramQuantile(prev, cur []uint64, buckets []float64, q float64) time.Duration {
	if len(prev) != len(cur) {
		prev = nil
	}
	var total uint64
	for i, c := range cur {
		total += histDelta(prev, i, c)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range cur {
		if seen += histDelta(prev, i, c); seen >= rank {
			return bucketBound(buckets, i)
		}
	}
	return bucketBound(buckets, len(cur)-1)
}

// histDelta is cur minus prev[i] (cur itself without prev); a counter
// that went backwards counts 0.
func histDelta(prev []uint64, i int, cur uint64) uint64 {
	switch {
	case prev == nil:
		return cur
	case prev[i] > cur:
		return 0
	}
	return cur - prev[i]
}

// bucketBound is the duration reported for bucket i: its upper bound, or
// its lower bound when the upper is +Inf, never negative.
func bucketBound(buckets []float64, i int) time.Duration {
	v := buckets[i+1]
	if math.IsInf(v, 1) {
		v = buckets[i]
	}
	if v <= 0 || math.IsInf(v, 0) {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}
