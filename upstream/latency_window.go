package upstream

import (
	"sync/atomic"
	"time"
)

// Windows of the per-second statistics in snapshots.
const (
	// ringSlots is the number of per-second slots each upstream keeps: a
	// power of two above the 61 seconds a snapshot reads (the current
	// second and the 60 before it), so the current second never shares a
	// slot with one still read.
	ringSlots = 64
	// quantileSeconds is the span of the snapshot's p50/p95/p99: the
	// current second and the 59 before it.
	quantileSeconds = 60
	// rateSeconds is the span of the snapshot's requests per second.
	rateSeconds = 10
	// historySeconds is the number of complete seconds in History.
	historySeconds = 60
	// clearing marks a slot whose counts are being reset for a new second.
	clearing = -1
)

// latencyRecorder counts an upstream's latency samples twice: since the
// upstream was added (the Prometheus histogram) and per second in a ring of
// the last ringSlots seconds (last-minute quantiles, request rate,
// sparklines). Recording is a few atomic adds: no lock, no allocation.
//
// It holds atomics and must not be copied.
type latencyRecorder struct {
	total     [LatencyBuckets]atomic.Uint64
	sumMicros atomic.Uint64 // µs rather than ns: 58 years at 10⁴ s of latency per second
	ring      [ringSlots]secondSlot
}

// secondSlot counts the samples of one second. Slot i holds the seconds
// congruent to i modulo ringSlots; sec says which one it holds now, so a
// reader ignores a slot left over from an older lap.
type secondSlot struct {
	sec    atomic.Int64 // the second counted, or clearing
	counts [LatencyBuckets]atomic.Uint32
}

// record counts one latency sample taken at now (a clock reading in ns).
func (r *latencyRecorder) record(now int64, rtt time.Duration) {
	ns := max(int64(rtt), 0)
	i := latencyBucket(ns)
	r.total[i].Add(1)
	r.sumMicros.Add(uint64(ns / int64(time.Microsecond)))
	sec := now / int64(time.Second)
	r.ring[sec%ringSlots].add(sec, i)
}

// add counts a sample of bucket i in second sec, first clearing the slot if
// it still holds an older second. Whoever wins the CAS to clearing resets the
// counts; a sample arriving during that reset (well under a microsecond,
// once per second) or from a writer so late that its second was already
// replaced is left out of the window, never counted in the wrong second.
// Both are still in the since-start histogram.
func (s *secondSlot) add(sec int64, i int) {
	for {
		cur := s.sec.Load()
		switch {
		case cur == sec:
			s.counts[i].Add(1)
			return
		case cur == clearing || cur > sec:
			return
		case s.sec.CompareAndSwap(cur, clearing):
			for j := range s.counts {
				s.counts[j].Store(0)
			}
			s.counts[i].Add(1)
			s.sec.Store(sec)
			return
		}
	}
}

// load copies the slot's counts into h when it holds second sec, and
// reports whether it did. A slot reset while being read is discarded.
func (s *secondSlot) load(sec int64, h *LatencyHistogram) bool {
	if s.sec.Load() != sec {
		return false
	}
	for i := range s.counts {
		h.Counts[i] = uint64(s.counts[i].Load())
	}
	return s.sec.Load() == sec
}

// LatencyStats is an upstream's latency distribution and request rate in a
// snapshot. The zero value means no sample.
type LatencyStats struct {
	// Latency holds every latency sample since the upstream was added, for
	// the Prometheus histogram. Canceled requests give no sample.
	Latency LatencyHistogram `json:"-"`
	// P50, P95 and P99 are latency quantiles over the last minute, 0 when
	// it had no sample; the *Millis fields are the same for JSON.
	P50, P95, P99 time.Duration `json:"-"`
	P50Millis     float64       `json:"p50Ms"`
	P95Millis     float64       `json:"p95Ms"`
	P99Millis     float64       `json:"p99Ms"`
	// LastMinuteRequests is the number of samples behind the quantiles.
	LastMinuteRequests uint64 `json:"lastMinuteRequests"`
	// RequestsPerSecond is the rate of completed (not canceled) requests
	// over the last 10 seconds.
	RequestsPerSecond float64 `json:"rps"`
	// History is the last minute second by second, for sparklines.
	History History `json:"history"`
}

// History is an upstream's per-second activity over the last complete
// minute, oldest first, for the dashboard's sparklines. Arrays rather than
// slices keep a snapshot comparable and free of extra allocations.
type History struct {
	// Start is the beginning of the first second. Seconds are counted from
	// the pool's start, so Start is the same instant in every snapshot that
	// covers that second.
	Start time.Time `json:"start"`
	// Requests is the number of completed requests in each second.
	Requests [historySeconds]uint64 `json:"requests"`
	// P95Millis is each second's 95th-percentile latency in milliseconds,
	// 0 for a second without requests.
	P95Millis [historySeconds]float64 `json:"p95Ms"`
}

// read returns the recorder's statistics as of now, a clock reading; wall
// converts clock readings to times.
func (r *latencyRecorder) read(now int64, wall func(int64) time.Time) LatencyStats {
	var s LatencyStats
	for i := range r.total {
		s.Latency.Counts[i] = r.total[i].Load()
	}
	s.Latency.Sum = time.Duration(r.sumMicros.Load()) * time.Microsecond

	cur := now / int64(time.Second)
	first := cur - historySeconds
	s.History.Start = wall(first * int64(time.Second))
	var recent LatencyHistogram
	var inRate uint64
	for sec := first; sec <= cur; sec++ {
		var h LatencyHistogram
		if sec >= 0 {
			r.ring[sec%ringSlots].load(sec, &h)
		}
		n := h.Count()
		if sec > cur-quantileSeconds {
			recent.add(&h)
		}
		if sec > cur-rateSeconds {
			inRate += n
		}
		if sec < cur {
			s.History.Requests[sec-first] = n
			s.History.P95Millis[sec-first] = millis(h.Quantile(0.95))
		}
	}
	s.LastMinuteRequests = recent.Count()
	s.P50, s.P95, s.P99 = recent.Quantile(0.50), recent.Quantile(0.95), recent.Quantile(0.99)
	s.P50Millis, s.P95Millis, s.P99Millis = millis(s.P50), millis(s.P95), millis(s.P99)
	// The rate window is its complete seconds plus the current one so far,
	// or the pool's whole life when that is shorter.
	span := min(now, (rateSeconds-1)*int64(time.Second)+now%int64(time.Second))
	if span > 0 {
		s.RequestsPerSecond = float64(inRate) / (float64(span) / float64(time.Second))
	}
	return s
}

// millis converts d to fractional milliseconds for JSON.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
