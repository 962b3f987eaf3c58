package upstream

import (
	"math"
	"time"
)

// LatencyBuckets is the number of buckets of a LatencyHistogram: one up to
// 10µs, ten per decade from 10µs to 100s, and one above 100s.
const LatencyBuckets = 72

// Latency bucket layout. Within each decade the upper bounds are the
// mantissas 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 and 10 times the decade's base,
// so every "1-2.5-5" bound a Prometheus user expects (1ms, 2.5ms, 5ms, 10ms,
// …, 10s, 30s, 60s) is exactly a bucket bound, and a quantile read from the
// buckets is within one bucket width (at most 25%) of the truth.
const (
	firstBound   = int64(10 * time.Microsecond) // upper bound of bucket 0
	lastBound    = int64(100 * time.Second)     // upper bound of the last finite bucket
	perDecade    = 10
	finiteBounds = LatencyBuckets - 1
)

// latencyBucket returns the index of the bucket that counts a latency of ns
// nanoseconds: the first whose upper bound is >= ns. It is a handful of
// integer operations, takes no lock and does not allocate.
func latencyBucket(ns int64) int {
	if ns <= firstBound {
		return 0
	}
	if ns > lastBound {
		return finiteBounds
	}
	base := firstBound
	d := 0
	for ns > base*10 {
		base *= 10
		d++
	}
	// x = ceil(10·ns/base) is in (10, 100]; ns <= base·m/10 exactly when x <= m.
	x := (ns*10 + base - 1) / base
	return 1 + d*perDecade + mantissaIndex(x)
}

// mantissaIndex returns the index within a decade of the first mantissa
// (in tenths) not below x, for x in (10, 100].
func mantissaIndex(x int64) int {
	switch {
	case x <= 12:
		return 0
	case x <= 15:
		return 1
	case x <= 20:
		return 2
	case x <= 25:
		return 3
	case x <= 30:
		return 4
	case x <= 40:
		return 5
	case x <= 50:
		return 6
	case x <= 60:
		return 7
	case x <= 80:
		return 8
	}
	return 9
}

// mantissaTenths returns the mantissa, in tenths, of index k of a decade.
func mantissaTenths(k int) int64 {
	switch k {
	case 0:
		return 12
	case 1:
		return 15
	case 2:
		return 20
	case 3:
		return 25
	case 4:
		return 30
	case 5:
		return 40
	case 6:
		return 50
	case 7:
		return 60
	case 8:
		return 80
	}
	return 100
}

// LatencyBound returns the inclusive upper bound of bucket i: 10µs for
// bucket 0, 100s for bucket LatencyBuckets-2, and math.MaxInt64 (no bound)
// for the last bucket.
func LatencyBound(i int) time.Duration {
	switch {
	case i <= 0:
		return time.Duration(firstBound)
	case i >= finiteBounds:
		return math.MaxInt64
	}
	d, k := (i-1)/perDecade, (i-1)%perDecade
	base := firstBound
	for range d {
		base *= 10
	}
	return time.Duration(base * mantissaTenths(k) / 10)
}

// LatencyHistogram is a copy of a latency distribution: Counts[i] is the
// number of samples in (LatencyBound(i-1), LatencyBound(i)]. The zero value
// is an empty histogram.
type LatencyHistogram struct {
	Counts [LatencyBuckets]uint64
	Sum    time.Duration // of every sample
}

// Count returns the number of samples.
func (h *LatencyHistogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// CountAtMost returns the number of samples of at most le. It is exact when
// le is a bucket bound (LatencyBound); otherwise it counts up to the largest
// bound below le.
func (h *LatencyHistogram) CountAtMost(le time.Duration) uint64 {
	var n uint64
	for i, c := range h.Counts {
		if LatencyBound(i) > le {
			break
		}
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 < q <= 1) of the samples by linear
// interpolation within the bucket that holds it, as Prometheus's
// histogram_quantile does. It returns 0 for an empty histogram, and 100s for
// a quantile that falls above the last finite bound.
func (h *LatencyHistogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var below uint64
	for i, c := range h.Counts {
		if c == 0 || float64(below+c) < rank {
			below += c
			continue
		}
		if i == finiteBounds {
			return time.Duration(lastBound)
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = LatencyBound(i - 1)
		}
		hi := LatencyBound(i)
		frac := (rank - float64(below)) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return time.Duration(lastBound)
}

// add merges o into h.
func (h *LatencyHistogram) add(o *LatencyHistogram) {
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Sum += o.Sum
}
