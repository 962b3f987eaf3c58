package streams

import (
	"sync/atomic"
	"time"
)

// histogramMax is the largest delay recorded exactly; longer ones land in
// the last bucket.
const histogramMax = 200 * time.Millisecond

// histogram counts delays with 1 µs resolution up to histogramMax, lock-free.
type histogram struct {
	buckets []atomic.Int64
}

func newHistogram() *histogram {
	return &histogram{buckets: make([]atomic.Int64, histogramMax/time.Microsecond+1)}
}

// record counts one delay.
func (h *histogram) record(nanos int64) {
	i := max(nanos/1000, 0)
	if i >= int64(len(h.buckets)) {
		i = int64(len(h.buckets)) - 1
	}
	h.buckets[i].Add(1)
}

// snapshot copies the counts.
func (h *histogram) snapshot() []int64 {
	out := make([]int64, len(h.buckets))
	for i := range h.buckets {
		out[i] = h.buckets[i].Load()
	}
	return out
}

// quantile returns the q-quantile of counts (as from snapshot); the last
// bucket reads as "at least histogramMax".
func quantile(counts []int64, q float64) time.Duration {
	var total int64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total-1)) + 1
	var seen int64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return time.Duration(i) * time.Microsecond
		}
	}
	return histogramMax
}
