package upstream

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) Now() time.Time {
	return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(c.offset.Load()))
}

func (c *fakeClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

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
