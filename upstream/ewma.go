package upstream

import (
	"math"
	"sync/atomic"
)

// unsampled is the stamp of a peakEWMA that has never observed a latency.
const unsampled = math.MinInt64

// peakEWMA is Finagle's and Linkerd's peak-sensitive moving average of
// latency. On each sample rtt, with w = exp(-Δt/τ) and Δt the time since the
// previous update:
//
//	cost = rtt                   if rtt > cost (a spike is adopted at once)
//	cost = cost*w + rtt*(1-w)    otherwise (an improvement is believed slowly)
//
// and between samples the cost decays towards 0 by the same w, so an upstream
// that stopped getting traffic is eventually tried again.
//
// It is lock-free. An observer first claims the interval [stamp, now] by
// CAS on the stamp; then it applies that interval's decay and its sample by
// CAS on the cost. The claimed intervals partition time, so every nanosecond
// of decay is applied exactly once even under concurrent updates. A reader
// may see the new stamp with the old cost for an instant; the estimate is
// then briefly a little low, which selection tolerates.
type peakEWMA struct {
	cost  atomic.Uint64 // math.Float64bits of the cost in nanoseconds
	stamp atomic.Int64  // clock reading of the last update, or unsampled
}

// init empties the estimate, as before the first sample.
func (e *peakEWMA) init() {
	e.cost.Store(0)
	e.stamp.Store(unsampled)
}

// observe records a latency sample of rtt nanoseconds taken at now. A
// penalty above 0 marks the sample as a failed attempt: it is taken as no
// faster than penalty (and never lowers the cost), and it is averaged in
// rather than adopted as a peak (its own latency still is). A fast error (connection refused, a quick
// 500 or 429) must not make a broken upstream look fast and attract more
// traffic (Finagle's and Linkerd's observation); averaging the penalty in
// by the time since the previous sample makes the cost track the expected
// cost of an attempt, latency on success and the penalty on failure, so an
// upstream failing every attempt soon costs nearly the penalty while one
// rare failure of a busy upstream moves it a little.
func (e *peakEWMA) observe(now int64, rtt, tau, penalty float64) {
	w := e.claim(now, tau)
	for {
		old := e.cost.Load()
		c := math.Float64frombits(old)
		var next float64
		switch {
		case penalty > 0:
			r := max(rtt, penalty)
			next = max(c, rtt, c*w+r*(1-w))
		case rtt > c:
			next = rtt
		default:
			next = c*w + rtt*(1-w)
		}
		if e.cost.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// claim advances the stamp to now and returns the decay weight of the time
// since the previous stamp: 0 for the first sample, so it becomes the cost,
// and 1 when now is not after the stamp (no time passed for this observer).
func (e *peakEWMA) claim(now int64, tau float64) float64 {
	for {
		prev := e.stamp.Load()
		if prev != unsampled && now <= prev {
			return 1
		}
		if !e.stamp.CompareAndSwap(prev, now) {
			continue
		}
		if prev == unsampled {
			return 0
		}
		return math.Exp(-float64(now-prev) / tau)
	}
}

// at returns the cost decayed to now, and whether any sample was taken.
func (e *peakEWMA) at(now int64, tau float64) (cost float64, sampled bool) {
	stamp := e.stamp.Load()
	if stamp == unsampled {
		return 0, false
	}
	cost = math.Float64frombits(e.cost.Load())
	if now > stamp {
		cost *= math.Exp(-float64(now-stamp) / tau)
	}
	return cost, true
}

// reset replaces the estimate with cost as of now, as if one sample of
// that latency were all it had seen.
func (e *peakEWMA) reset(now int64, cost float64) {
	e.cost.Store(math.Float64bits(cost))
	e.stamp.Store(now)
}
