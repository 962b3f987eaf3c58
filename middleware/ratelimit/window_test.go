package ratelimit

import (
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time                    { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration)               { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)                   { c.ns.Store(t.UnixNano()) }
func windowStart(idx int64, w time.Duration) time.Time { return time.Unix(0, idx*int64(w)) }

// step is one moment of a window scenario: at offset from the start of
// window 1000, n requests are sent and allowed of them must pass.
type step struct {
	at      time.Duration
	n       int
	allowed int
}

func TestSlidingWindow(t *testing.T) {
	const w = 10 * time.Second
	tests := []struct {
		name  string
		limit int
		steps []step
	}{
		{"limit reached", 3, []step{{0, 5, 3}}},
		{"spread over the window", 3, []step{{0, 1, 1}, {4 * time.Second, 1, 1}, {9 * time.Second, 2, 1}}},
		{"rejected requests do not consume", 10, []step{
			{0, 10, 10},
			{time.Second, 1000, 0},     // hammering while limited
			{w, 1, 0},                  // next window: previous weighs 10·10/10
			{w + time.Second, 3, 1},    // ⌊10·9/10⌋ = 9, one left
			{w + 5*time.Second, 10, 4}, // ⌊10·5/10⌋ + 1 = 6, four left
			{w + 9*time.Second, 10, 4}, // ⌊10·1/10⌋ + 5 = 6, four left
		}},
		{"full recovery after two windows", 4, []step{{0, 4, 4}, {2 * w, 9, 4}}},
		{"recovery is gradual", 4, []step{ // ⌊4·(W−e)/W⌋ + curr < 4
			{0, 4, 4}, {w, 1, 0}, {w + 1, 2, 1}, {w + w/4 + 1, 2, 1}, {w + w/2 + 1, 2, 1}, {w + 3*w/4 + 1, 2, 1}, {2 * w, 1, 0},
		}},
		{"gap of one window forgets", 2, []step{{w - 1, 2, 2}, {3 * w, 2, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemoryStore(tt.limit, w, 1000)
			base := windowStart(1000, w)
			for i, st := range tt.steps {
				got := 0
				for range st.n {
					if s.take(42, base.Add(st.at), false).allowed {
						got++
					}
				}
				if got != st.allowed {
					t.Fatalf("step %d (at %v): %d of %d allowed, want %d", i, st.at, got, st.n, st.allowed)
				}
			}
		})
	}
}

// TestRetryAfterIsExact checks, against the store itself, that a rejected
// key is still rejected 1 ns before retryAfter and allowed at it.
func TestRetryAfterIsExact(t *testing.T) {
	const w = 10 * time.Second
	tests := []struct {
		name  string
		limit int
		fill  []time.Duration // offsets of allowed requests before the probe
		probe time.Duration
	}{
		{"full current window", 5, []time.Duration{0, 0, 0, 0, 0}, time.Second},
		{"decaying previous window", 10, []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, w + time.Second}, w + time.Second},
		{"previous partly used", 3, []time.Duration{w / 2, w / 2, w / 2, w + w/3}, w + w/3},
		{"limit one", 1, []time.Duration{3 * time.Second}, 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemoryStore(tt.limit, w, 1000)
			base := windowStart(7, w)
			for _, at := range tt.fill {
				if !s.take(1, base.Add(at), false).allowed {
					t.Fatalf("fill at %v rejected", at)
				}
			}
			st := s.take(1, base.Add(tt.probe), false)
			if st.allowed {
				t.Fatal("probe allowed, want rejected")
			}
			wait := st.retryAfter(uint64(tt.limit), w)
			if wait <= 0 {
				t.Fatalf("retryAfter %v", wait)
			}
			if s.take(1, base.Add(tt.probe+wait-1), false).allowed {
				t.Fatalf("allowed 1ns before retryAfter %v", wait)
			}
			if !s.take(1, base.Add(tt.probe+wait), false).allowed {
				t.Fatalf("rejected at retryAfter %v", wait)
			}
		})
	}
}

func TestWindowHeaderValues(t *testing.T) {
	const w = 60 * time.Second
	tests := []struct {
		name                    string
		st                      windowState
		limit                   uint64
		remaining, reset, retry int64 // retry < 0: not a rejection
	}{
		{"fresh", windowState{curr: 1, elapsed: 10 * time.Second}, 5, 4, 50, -1},
		{"reset rounds up", windowState{curr: 1, elapsed: 10*time.Second + 1}, 5, 4, 50, -1},
		{"weighted previous", windowState{curr: 1, prev: 4, elapsed: 30 * time.Second}, 5, 2, 30, -1},
		{"exhausted", windowState{curr: 5, elapsed: 59 * time.Second}, 5, 0, 1, 2},
		{"over (mirrored counts)", windowState{curr: 9, prev: 9, elapsed: 0}, 5, 0, 60, 61},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.remaining(tt.limit, w); int64(got) != tt.remaining {
				t.Errorf("remaining %d, want %d", got, tt.remaining)
			}
			if got := tt.st.resetSeconds(w); got != tt.reset {
				t.Errorf("reset %d, want %d", got, tt.reset)
			}
			if got := tt.st.retryAfterSeconds(tt.limit, w); tt.retry >= 0 && int64(got) != tt.retry {
				t.Errorf("retry %d, want %d", got, tt.retry)
			}
		})
	}
}

func TestWindowIndexBeforeEpoch(t *testing.T) {
	idx, el := windowIndex(-1, time.Second)
	if idx != -1 || el != time.Second-1 {
		t.Fatalf("windowIndex(-1) = %d, %v", idx, el)
	}
}
