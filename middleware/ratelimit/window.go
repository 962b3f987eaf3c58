package ratelimit

import (
	"math/bits"
	"time"
)

// Sliding-window arithmetic shared by the memory and Redis stores, so both
// answer alike. Windows are aligned to the clock's epoch: window i covers
// [i·W, (i+1)·W). A key keeps the count of its current window (curr) and of
// the one before (prev); at elapsed time e into the current window its rate
// is
//
//	rate = ⌊prev·(W−e)/W⌋ + curr
//
// the share of the previous window that still lies within the last W, plus
// this window — the estimate Fiber's sliding-window limiter and Cloudflare
// use. A request is allowed when rate < max, and only an allowed request is
// counted, so rejected requests never consume quota.
//
// Why not GCRA: GCRA keeps one timestamp and is exact about the rate, but with
// a burst of max it admits almost 2·max requests in some W-long span (a full
// burst, then one per W/max). The weighted window keeps every span of length
// W close to max, which is what "RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS"
// promises, and its counts map directly onto RateLimit-Remaining.

// windowState is one decision: the key's counts after it, and where in the
// window it was taken.
type windowState struct {
	allowed    bool
	curr, prev uint64        // counts after the decision
	elapsed    time.Duration // time since the current window began
}

// windowIndex splits a time into its window's index and the time elapsed in it.
func windowIndex(unixNano int64, window time.Duration) (int64, time.Duration) {
	idx := unixNano / int64(window)
	rem := unixNano % int64(window)
	if rem < 0 { // before 1970, only under odd test clocks
		idx, rem = idx-1, rem+int64(window)
	}
	return idx, time.Duration(rem)
}

// weightedPrev is ⌊prev·(W−elapsed)/W⌋, exact in 128-bit arithmetic.
func weightedPrev(prev uint64, elapsed, window time.Duration) uint64 {
	left := uint64(window - elapsed)
	hi, lo := bits.Mul64(prev, left)
	q, _ := bits.Div64(hi, lo, uint64(window)) // q ≤ prev, so no overflow
	return q
}

// rate is the key's sliding-window rate after the decision.
func (s windowState) rate(window time.Duration) uint64 {
	return weightedPrev(s.prev, s.elapsed, window) + s.curr
}

// remaining is RateLimit-Remaining: requests still allowed right now.
func (s windowState) remaining(limit uint64, window time.Duration) uint64 {
	if r := s.rate(window); r < limit {
		return limit - r
	}
	return 0
}

// resetSeconds is RateLimit-Reset: whole seconds, rounded up, until the
// current window ends and its count starts to decay.
func (s windowState) resetSeconds(window time.Duration) int64 {
	return ceilSeconds(window - s.elapsed)
}

// retryAfter is how long a rejected key must wait until rate < max again.
// Within this window that is when the previous window's weight has decayed
// enough: ⌊prev·(W−t)/W⌋ ≤ k with k = limit−1−curr, first true at
// t = W − ⌊((k+1)·W − 1)/prev⌋. If curr already reached the limit, the wait runs
// into the next window, where the first instant after its start is enough.
func (s windowState) retryAfter(limit uint64, window time.Duration) time.Duration {
	if s.curr < limit && s.prev > 0 {
		k1 := limit - s.curr // k+1
		hi, lo := bits.Mul64(k1, uint64(window))
		if hi < s.prev { // otherwise the quotient overflows: allowed at once
			lo, borrow := bits.Sub64(lo, 1, 0)
			hi -= borrow
			q, _ := bits.Div64(hi, lo, s.prev)
			if q < uint64(window) {
				if wait := window - time.Duration(q) - s.elapsed; wait > 0 {
					return wait
				}
			}
		}
		return time.Nanosecond
	}
	return window - s.elapsed + time.Nanosecond
}

// retryAfterSeconds is Retry-After: retryAfter in whole seconds, at least 1.
func (s windowState) retryAfterSeconds(limit uint64, window time.Duration) int {
	return int(max(ceilSeconds(s.retryAfter(limit, window)), 1))
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
