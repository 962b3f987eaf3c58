package upstream

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestRetryBudget(t *testing.T) {
	tests := []struct {
		name      string
		inflight  int64
		wantLimit int64
	}{
		{"idle pool still allows the minimum", 0, 3},
		{"below the point where 20% exceeds 3", 19, 3},
		{"20% of in-flight", 50, 10},
		{"20% rounds down", 104, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &RetryBudget{minActive: retryBudgetMin, percent: retryBudgetPercent,
				inflight: func() int64 { return tt.inflight }}
			if got := b.Limit(); got != tt.wantLimit {
				t.Fatalf("Limit = %d, want %d", got, tt.wantLimit)
			}
			for i := range tt.wantLimit {
				if !b.TryAcquire() {
					t.Fatalf("TryAcquire #%d refused below the limit", i+1)
				}
			}
			if b.TryAcquire() {
				t.Fatal("TryAcquire allowed past the limit")
			}
			b.Release()
			if !b.TryAcquire() {
				t.Fatal("TryAcquire refused after a Release")
			}
			if got := b.Active(); got != tt.wantLimit {
				t.Errorf("Active = %d, want %d", got, tt.wantLimit)
			}
		})
	}
}

func TestRetryBudgetConcurrent(t *testing.T) {
	b := &RetryBudget{minActive: 3, percent: 20, inflight: func() int64 { return 0 }}
	var granted, peak atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 500 {
				if !b.TryAcquire() {
					continue
				}
				n := granted.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				granted.Add(-1)
				b.Release()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 1 {
		t.Errorf("peak concurrent retries = %d, want 1..3", p)
	}
	if b.Active() != 0 {
		t.Errorf("Active = %d after all released", b.Active())
	}
}

func TestPoolRetryBudgetCountsInflight(t *testing.T) {
	p, _ := testPool(t, Options{Services: map[string][]string{"a": urls(2), "b": urls(3)}})
	var leases []Lease
	for i := range 30 {
		leases = append(leases, mustPick(t, p, []string{"a", "b"}[i%2], nil))
	}
	if got := p.RetryBudget().Limit(); got != 6 {
		t.Errorf("Limit with 30 in flight = %d, want 6", got)
	}
	for _, l := range leases {
		l.Done(status(200))
	}
	if got := p.RetryBudget().Limit(); got != 3 {
		t.Errorf("Limit with none in flight = %d, want 3", got)
	}
}
