package upstream

import "sync/atomic"

// Envoy's default retry budget: retries in flight may reach 20% of the
// requests in flight, and at least 3 are always allowed so a quiet gateway
// can still retry.
const (
	retryBudgetMin     = 3
	retryBudgetPercent = 20
)

// RetryBudget caps concurrent retries across the pool, as Envoy's retry
// budget does, so that retries cannot multiply the load on upstreams that are
// already failing: a retry is allowed while the active retries are fewer than
// max(3, 20% of the requests in flight). It is lock-free.
type RetryBudget struct {
	active    atomic.Int64
	minActive int64
	percent   int64
	inflight  func() int64 // requests in flight across the pool
}

// TryAcquire reserves one retry, reporting false when the budget is spent.
// Each successful TryAcquire must be paired with one Release.
func (b *RetryBudget) TryAcquire() bool {
	for {
		n := b.active.Load()
		if n >= b.Limit() {
			return false
		}
		if b.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release ends a retry reserved by TryAcquire.
func (b *RetryBudget) Release() { b.active.Add(-1) }

// Active returns the number of retries in flight.
func (b *RetryBudget) Active() int64 { return b.active.Load() }

// Limit returns the current maximum of concurrent retries.
func (b *RetryBudget) Limit() int64 {
	return max(b.minActive, b.inflight()*b.percent/100)
}
