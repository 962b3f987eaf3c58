// Package hist is the latency histogram of the load generators: fixed
// memory, constant-time recording, quantiles within 0.8% of the true value
// at any magnitude. It is the log-linear bucketing of HdrHistogram
// (hdrhistogram.org) cut down to what the harness needs, written here
// because the Go port is not among the modules this repository uses and
// the part needed is about sixty lines.
package hist

import (
	"math"
	"math/bits"
	"time"
)

const (
	subBits = 7            // 2^7 sub-buckets per power of two: ≤ 1/128 relative width
	sub     = 1 << subBits // values below sub are counted exactly
	half    = sub / 2
	maxExp  = 64 - subBits
	buckets = sub + maxExp*half
)

// H counts durations in nanoseconds. The zero value is empty and ready.
// It is not safe for concurrent use: give each worker its own and Merge.
type H struct {
	counts [buckets]uint64
	total  uint64
	sum    float64
	min    uint64
	max    uint64
}

// index is v's bucket: exact below sub, then half sub-buckets for each
// further power of two.
func index(v uint64) int {
	if v < sub {
		return int(v)
	}
	e := bits.Len64(v) - subBits // ≥ 1; v>>e is in [half, sub)
	return sub + (e-1)*half + int(v>>e) - half
}

// value is the middle of bucket i.
func value(i int) uint64 {
	if i < sub {
		return uint64(i)
	}
	e := (i-sub)/half + 1
	m := uint64((i-sub)%half + half)
	lo := m << e
	return lo + (uint64(1)<<e)/2
}

// Record counts one duration; negative ones count as zero.
func (h *H) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[index(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.total++
	h.sum += float64(v)
}

// Merge adds o's counts to h.
func (h *H) Merge(o *H) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of durations recorded.
func (h *H) Count() uint64 { return h.total }

// Max is the largest duration recorded, exactly.
func (h *H) Max() time.Duration { return time.Duration(h.max) }

// Mean is the mean duration, 0 when empty.
func (h *H) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1): the smallest recorded
// duration such that at least q of all are at most it, by the nearest-rank
// definition, read as the middle of its bucket but never outside the
// recorded minimum and maximum. An empty histogram gives 0.
func (h *H) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(value(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
