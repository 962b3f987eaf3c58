package upstream

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an AfterClock that moves only when told.
type fakeClock struct {
	offset atomic.Int64
	mu     sync.Mutex
	timers []fakeTimer     // pending After channels; guarded by mu
	waits  []time.Duration // every duration After was asked for; guarded by mu
}

// fakeTimer is a pending After: its channel receives once the clock
// reaches due.
type fakeTimer struct {
	due int64
	ch  chan time.Time
}

var _ AfterClock = (*fakeClock)(nil)

func (c *fakeClock) Now() time.Time {
	return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(c.offset.Load()))
}

// Advance moves the clock by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	now := c.offset.Add(int64(d))
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.due <= now {
			t.ch <- c.Now()
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// After returns a channel that receives once the clock has moved d on.
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.timers = append(c.timers, fakeTimer{due: c.offset.Load() + int64(d), ch: ch})
	return ch
}

// Pending returns how many After channels have not fired yet.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Waits returns the durations After was asked for so far.
func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// seededRand is a deterministic, goroutine-safe Rand.
type seededRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newSeededRand(seed uint64) *seededRand {
	return &seededRand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (s *seededRand) IntN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.IntN(n)
}

// scriptRand returns its values in turn (modulo n), then repeats them.
type scriptRand struct {
	mu   sync.Mutex
	vals []int
	i    int
}

func (s *scriptRand) IntN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vals[s.i%len(s.vals)] % n
	s.i++
	return v
}

// testPool builds a pool on a fake clock, closed when the test ends.
func testPool(t testing.TB, opts Options) (*Pool, *fakeClock) {
	t.Helper()
	clock := &fakeClock{}
	if opts.Clock == nil {
		opts.Clock = clock
	}
	if opts.Rand == nil {
		opts.Rand = newSeededRand(1)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p, clock
}

// urls returns n distinct upstream URLs.
func urls(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "http://10.0.0." + string(rune('1'+i)) + ":8080"
	}
	return out
}

// mustPick picks from service name or fails the test.
func mustPick(t testing.TB, p *Pool, name string, exclude *Upstream) Lease {
	t.Helper()
	l, err := p.Service(name).Pick(exclude)
	if err != nil {
		t.Fatalf("Pick(%s): %v", name, err)
	}
	return l
}

// sample gives u one completed request of latency d at the clock's time.
func sample(t testing.TB, p *Pool, clock *fakeClock, u *Upstream, d time.Duration) {
	t.Helper()
	start := p.sh.now()
	ticket, ok := u.br.allow(start)
	if !ok {
		t.Fatalf("breaker of %s refused", u)
	}
	u.inflight.Add(1)
	clock.Advance(d)
	Lease{u: u, start: start, ticket: ticket}.Done(Outcome{Status: 200})
}
