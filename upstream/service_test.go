package upstream

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPickErrNoUpstream(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		open    int  // how many breakers to trip, from the first
		exclude bool // exclude the last upstream
		wantErr bool
	}{
		{"all open", 2, 2, false, true},
		{"one of two open", 2, 1, false, false},
		{"only one excluded", 1, 0, true, true},
		{"one open, the other excluded", 2, 1, true, true},
		{"one open, one excluded, one left", 3, 1, true, false},
		{"all of five open", 5, 5, false, true},
		{"four of five open", 5, 4, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := testPool(t, Options{Services: map[string][]string{"s": urls(tt.n)}, FailureThreshold: 1})
			svc := p.Service("s")
			for _, u := range svc.ups[:tt.open] {
				ticket, _ := u.br.allow(0)
				u.br.record(ticket, verdictFailure, 0, &Outcome{Status: 503})
			}
			var exclude *Upstream
			if tt.exclude {
				exclude = svc.ups[tt.n-1]
			}
			l, err := svc.Pick(exclude)
			if tt.wantErr {
				if !errors.Is(err, ErrNoUpstream) || l.Upstream() != nil {
					t.Fatalf("Pick = %v, %v; want ErrNoUpstream", l.Upstream(), err)
				}
				return
			}
			if err != nil || l.Upstream() == exclude || l.Upstream().State() != StateClosed {
				t.Fatalf("Pick = %v, %v", l.Upstream(), err)
			}
			l.Done(status(200))
		})
	}
}

// firstSelector is a careless policy: the first upstream not excluded, even
// when its breaker refuses.
type firstSelector struct{}

func (firstSelector) Select(ups []*Upstream, exclude *Upstream) *Upstream {
	for _, u := range ups {
		if u != exclude {
			return u
		}
	}
	return nil
}

// TestPickChecksBreakerAfterSelection: Pick must not trust the Selector
// about availability (a custom one may ignore it, and states change between
// selection and admission).
func TestPickChecksBreakerAfterSelection(t *testing.T) {
	p, clock := testPool(t, Options{
		Services: map[string][]string{"s": urls(2)}, Selector: firstSelector{},
		FailureThreshold: 1, Cooldown: time.Second,
	})
	svc := p.Service("s")
	first := mustPick(t, p, "s", nil)
	if first.Upstream() != svc.ups[0] {
		t.Fatalf("custom Selector not used: got %s", first.Upstream())
	}
	first.Done(status(503))
	if l, err := svc.Pick(nil); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("Pick through an open breaker = %v, %v; want ErrNoUpstream", l.Upstream(), err)
	}
	clock.Advance(time.Second)
	probe := mustPick(t, p, "s", nil)
	if l, err := svc.Pick(nil); !errors.Is(err, ErrNoUpstream) {
		t.Fatalf("second Pick while the probe is out = %v, %v; want ErrNoUpstream", l.Upstream(), err)
	}
	probe.Done(status(200))
}

func TestLeaseDone(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}})
	Lease{}.Done(status(500)) // the zero Lease is inert

	l := mustPick(t, p, "s", nil)
	u := l.Upstream()
	if u.Inflight() != 1 || u.requests.Load() != 1 {
		t.Fatalf("after Pick: inflight %d, requests %d", u.Inflight(), u.requests.Load())
	}
	clock.Advance(time.Second)
	l.Done(Outcome{Status: 200, Latency: 30 * time.Millisecond}) // the override wins over the 1s elapsed
	if got := u.Latency(); got != 30*time.Millisecond {
		t.Errorf("latency = %s, want the 30ms override", got)
	}
	l = mustPick(t, p, "s", nil)
	clock.Advance(5 * time.Second)
	l.Done(canceled())
	if got, want := u.Latency(), 30*time.Millisecond*606530/1000000; got.Round(time.Microsecond) != want.Round(time.Microsecond) { // e^-0.5
		t.Errorf("latency after a canceled request = %s, want only decay", got)
	}
	if u.Inflight() != 0 || u.successes.Load() != 1 || u.canceled.Load() != 1 || u.lastErr.Load() != nil {
		t.Errorf("after Done: %+v", u.Snapshot())
	}
}

func TestPickDoneDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8} {
		p, _ := testPool(t, Options{Services: map[string][]string{"s": urls(n)}, Clock: realClock{}, Rand: globalRand{}})
		svc := p.Service("s")
		allocs := testing.AllocsPerRun(1000, func() {
			l, err := svc.Pick(nil)
			if err != nil {
				t.Fatal(err)
			}
			l.Done(Outcome{Status: 200})
		})
		if allocs != 0 {
			t.Errorf("%d upstreams: Pick+Done allocates %v times per call, want 0", n, allocs)
		}
	}
}

// TestConcurrentPickDone races Pick/Done with mixed outcomes against
// reloads, snapshots and retries, then checks that every count balances.
func TestConcurrentPickDone(t *testing.T) {
	p, err := New(Options{
		Services:         map[string][]string{"s": urls(4), "t": urls(2)},
		FailureThreshold: 3, Cooldown: time.Millisecond, MaxCooldown: 4 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	seen := make(map[*Upstream]bool)
	var seenMu sync.Mutex
	remember := func() {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, s := range p.Services() {
			for _, u := range s.Upstreams() {
				seen[u] = true
			}
		}
	}
	remember()
	outcomes := []Outcome{status(200), status(200), status(200), status(503), canceled(), dialRefused()}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // reloads and snapshots while requests run
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			services := map[string][]string{"s": urls(4), "t": urls(2 + i%2)}
			if err := p.Replace(services); err != nil {
				t.Error(err)
				return
			}
			remember()
			_ = p.Snapshot()
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				name := []string{"s", "t"}[(g+i)%2]
				l, err := p.Service(name).Pick(nil)
				if err != nil {
					continue // every breaker open for a moment
				}
				o := outcomes[(g*7+i)%len(outcomes)]
				if o.Err != nil && p.RetryBudget().TryAcquire() {
					if r, err := p.Service(name).Pick(l.Upstream()); err == nil {
						r.Upstream().CountRetry()
						r.Done(status(200))
					}
					p.RetryBudget().Release()
				}
				l.Done(o)
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	remember()
	for u := range seen {
		s := u.Snapshot()
		if s.Inflight != 0 || s.Requests != s.Successes+s.Failures+s.Canceled {
			t.Errorf("%s/%s does not balance: %+v", u.Service(), u, s)
		}
	}
	if a := p.RetryBudget().Active(); a != 0 {
		t.Errorf("retry budget active = %d, want 0", a)
	}
}
