package streams

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gateway/upstream"
)

// fake is a stream that records when it was drained, and removes itself
// from the registry as a real one does once it has ended.
type fake struct {
	r      *Registry
	e      *Entry
	mu     sync.Mutex
	at     time.Time
	reason Reason
	cut    bool
	stuck  bool // ignores Drain: only Cut ends it
}

func (f *fake) Drain(reason Reason) {
	f.mu.Lock()
	f.at, f.reason = time.Now(), reason
	stuck := f.stuck
	f.mu.Unlock()
	if !stuck {
		f.r.Remove(f.e)
	}
}

func (f *fake) Cut() {
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
	f.r.Remove(f.e)
}

func add(t *testing.T, r *Registry, kind Kind, up *upstream.Upstream) *fake {
	t.Helper()
	f := &fake{r: r}
	e, ok := r.Add(f, kind, up)
	if !ok {
		t.Fatal("Add refused before Shutdown")
	}
	f.e = e
	return f
}

func TestShutdownRefusesAfterwardsAndCounts(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := New(Options{})
	s := add(t, r, SSE, nil)
	add(t, r, WebSocket, nil)
	add(t, r, WebSocket, nil)
	if r.Len(SSE) != 1 || r.Len(WebSocket) != 2 {
		t.Fatalf("counts SSE %d WS %d, want 1 and 2", r.Len(SSE), r.Len(WebSocket))
	}
	r.Remove(s.e)
	r.Remove(s.e) // repeats are ignored
	if r.Len(SSE) != 0 {
		t.Fatalf("SSE count %d after Remove", r.Len(SSE))
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Add(&fake{r: r}, SSE, nil); ok || !r.Closing() {
		t.Fatal("Add after Shutdown accepted")
	}
	if r.Len(WebSocket) != 0 {
		t.Fatalf("%d bridges left after Shutdown", r.Len(WebSocket))
	}
}

// Drains are spread evenly over the window: the i-th of n at i×window/n.
func TestShutdownSpreadsOverWindow(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n, window = 10, 500 * time.Millisecond
	r := New(Options{Window: window})
	all := make([]*fake, n)
	for i := range all {
		all[i] = add(t, r, Kind(i%2), nil)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for _, f := range all {
		if f.reason != Shutdown {
			t.Fatalf("drained for %v, want Shutdown", f.reason)
		}
		times = append(times, f.at.Sub(start))
	}
	checkSpread(t, times, window)
}

// checkSpread checks that the times are one window/n apart, give or take
// a scheduling tolerance, starting at once.
func checkSpread(t *testing.T, times []time.Duration, window time.Duration) {
	t.Helper()
	sortDurations(times)
	step := window / time.Duration(len(times))
	tolerance := step / 2
	for i, d := range times {
		want := time.Duration(i) * step
		if d < want-tolerance/4 || d > want+tolerance {
			t.Errorf("drain %d at %v, want %v ± %v (all: %v)", i, d, want, tolerance, times)
		}
	}
}

func sortDurations(ds []time.Duration) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

// A stream that ignores its drain is cut when the deadline passes.
func TestShutdownCutsAtDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := New(Options{})
	f := add(t, r, WebSocket, nil)
	f.stuck = true
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if !f.cut || r.Len(WebSocket) != 0 {
		t.Fatalf("stuck stream cut %v, left %d", f.cut, r.Len(WebSocket))
	}
}

// Streams of a removed upstream are moved off it MaxAgeAfterRemoval after
// the removal; the others stay.
func TestRemovedUpstreamsStreamsMoved(t *testing.T) {
	defer goleak.VerifyNone(t)
	pool, err := upstream.New(upstream.Options{Services: map[string][]string{"s": {"http://127.0.0.1:1", "http://127.0.0.1:2"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ups := pool.Service("s").Upstreams()
	const age = 100 * time.Millisecond
	r := New(Options{MaxAgeAfterRemoval: age, Window: 100 * time.Millisecond})
	gone := []*fake{add(t, r, WebSocket, ups[0]), add(t, r, SSE, ups[0])}
	stays := add(t, r, WebSocket, ups[1])
	if c := r.Counts(); len(c) != 2 {
		t.Fatalf("counts %+v, want two upstreams", c)
	}
	removedAt := time.Now()
	r.Removed([]*upstream.Upstream{ups[0]})
	deadline := time.Now().Add(3 * time.Second)
	for r.Len(SSE)+r.Len(WebSocket) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the removed upstream's streams were not moved")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	for _, f := range gone {
		f.mu.Lock()
		if f.reason != Moved || f.at.Sub(removedAt) < age {
			t.Errorf("moved for %v after %v, want Moved after at least %v", f.reason, f.at.Sub(removedAt), age)
		}
		f.mu.Unlock()
	}
	if c := r.Counts(); len(c) != 1 || c[0].Upstream != ups[1].String() || c[0].WebSocket != 1 {
		t.Errorf("counts %+v, want the remaining upstream's one bridge", c)
	}
	if err := r.Shutdown(context.Background()); err != nil || stays.reason != Shutdown {
		t.Fatalf("Shutdown %v, remaining stream drained for %v", err, stays.reason)
	}
}

// Shutdown stops a pending move; no timer or goroutine outlives it.
func TestShutdownStopsPendingMoves(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := New(Options{MaxAgeAfterRemoval: time.Hour})
	f := add(t, r, SSE, nil)
	r.Removed([]*upstream.Upstream{nil})
	if err := r.Shutdown(context.Background()); err != nil || f.reason != Shutdown {
		t.Fatalf("Shutdown %v, drained for %v", err, f.reason)
	}
	r.Removed([]*upstream.Upstream{nil}) // after Shutdown: nothing
	if len(r.moves) != 0 {
		t.Fatal("a move was armed after Shutdown")
	}
}

type fixed int64

func (f fixed) Int64N(n int64) int64 { return min(int64(f), n-1) }

func TestReconnectDelayJittered(t *testing.T) {
	if d := New(Options{Rand: fixed(0)}).ReconnectDelay(); d != reconnectMin {
		t.Errorf("lowest delay %v, want %v", d, reconnectMin)
	}
	if d := New(Options{Rand: fixed(1 << 62)}).ReconnectDelay(); d >= reconnectMin+reconnectSpread {
		t.Errorf("highest delay %v, want under %v", d, reconnectMin+reconnectSpread)
	}
	r := New(Options{})
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[r.ReconnectDelay()] = true
	}
	if len(seen) < 10 {
		t.Errorf("20 delays took only %d values", len(seen))
	}
}
