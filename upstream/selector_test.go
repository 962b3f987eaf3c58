package upstream

import (
	"cmp"
	"math"
	"slices"
	"testing"
	"time"
)

// state describes one upstream of a selection fixture.
type upState struct {
	latency  time.Duration // one sample of this latency; 0 = unsampled
	inflight int64
	open     bool // breaker tripped
}

// fixture builds a service "s" of len(states) upstreams in those states.
func fixture(t *testing.T, states []upState, r Rand) (*Pool, []*Upstream) {
	t.Helper()
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(len(states))}, Rand: r})
	ups := p.Service("s").ups
	for i, st := range states {
		u := ups[i]
		if st.latency > 0 {
			sample(t, p, clock, u, st.latency)
		}
		u.inflight.Add(st.inflight)
		if st.open {
			ticket, _ := u.br.allow(p.sh.now())
			u.br.trip(ticket, p.sh.now(), &Outcome{Status: 503})
		}
	}
	return p, ups
}

func TestScore(t *testing.T) {
	tests := []struct {
		name string
		st   upState
		want float64
	}{
		{"unsampled idle scores 0", upState{}, 0},
		{"unsampled busy is penalized", upState{inflight: 2}, 3 * unsampledPenalty},
		{"sampled idle is its cost", upState{latency: 40 * time.Millisecond}, 40e6},
		{"sampled busy is cost times inflight+1", upState{latency: 40 * time.Millisecond, inflight: 3}, 160e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ups := fixture(t, []upState{tt.st}, nil)
			if got := ups[0].score(p.sh.now()); math.Abs(got-tt.want) > 1 {
				t.Errorf("score = %g, want %g", got, tt.want)
			}
		})
	}
}

func TestPeakEWMASelect(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		states  []upState
		exclude int   // index, -1 for none
		rand    []int // script for the fake Rand (P2C indices)
		want    int   // index, -1 for nil
	}{
		{"lower latency wins", []upState{{latency: 50 * ms}, {latency: 10 * ms}}, -1, []int{0}, 1},
		{"load counts: 10ms x3 loses to 20ms x1", []upState{{latency: 10 * ms, inflight: 2}, {latency: 20 * ms}}, -1, []int{0}, 1},
		{"unsampled idle is tried first", []upState{{latency: 5 * ms}, {latency: 5 * ms}, {}}, -1, []int{0}, 2},
		{"unsampled busy is avoided", []upState{{latency: 900 * ms}, {inflight: 1}}, -1, []int{0}, 0},
		{"exclude skips the best", []upState{{latency: 50 * ms}, {latency: 10 * ms}, {latency: 30 * ms}}, 1, []int{0}, 2},
		{"exclude the only one", []upState{{latency: 10 * ms}}, 0, []int{0}, -1},
		{"open breaker skipped", []upState{{latency: 50 * ms}, {latency: 10 * ms, open: true}}, -1, []int{0}, 0},
		{"all open", []upState{{open: true}, {open: true}}, -1, []int{0}, -1},
		{"p2c compares the two drawn", []upState{{latency: 1 * ms}, {latency: 40 * ms}, {latency: 30 * ms}, {latency: 20 * ms}},
			-1, []int{1, 2}, 3}, // draws 1, then 2 of the remaining 3 -> index 3
		{"p2c draw hits excluded: falls back among eligible", []upState{{latency: 1 * ms}, {latency: 40 * ms}, {latency: 30 * ms}, {latency: 20 * ms}, {latency: 9 * ms}},
			0, []int{0, 0, 2, 2}, 4}, // draws (0,1): 0 excluded; eligible ranks 2 and 3 -> idx 3 and 4
		{"p2c draw hits open: few left, scan", []upState{{latency: 1 * ms, open: true}, {latency: 40 * ms}, {latency: 30 * ms, open: true}, {latency: 20 * ms}},
			-1, []int{0, 0}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scriptRand{vals: tt.rand}
			p, ups := fixture(t, tt.states, r)
			var exclude *Upstream
			if tt.exclude >= 0 {
				exclude = ups[tt.exclude]
			}
			sel := &PeakEWMA{Rand: r}
			got := sel.Select(ups, exclude)
			if tt.want < 0 {
				if got != nil {
					t.Fatalf("Select = %s, want nil", got)
				}
				return
			}
			if got != ups[tt.want] {
				t.Fatalf("Select = %v, want %s", got, ups[tt.want])
			}
			if _, err := p.Service("s").Pick(exclude); err != nil {
				t.Errorf("Pick: %v", err)
			}
		})
	}
}

func TestPeakEWMASelectEmpty(t *testing.T) {
	if got := (&PeakEWMA{}).Select(nil, nil); got != nil {
		t.Errorf("Select(nil) = %s, want nil", got)
	}
}

func TestPeakEWMATieBreakIsUnbiased(t *testing.T) {
	for _, n := range []int{2, 3, 5, 8} {
		t.Run(string(rune('0'+n))+" upstreams", func(t *testing.T) {
			_, ups := fixture(t, make([]upState, n), nil)
			sel := &PeakEWMA{Rand: newSeededRand(uint64(n))}
			const rounds = 40000
			counts := make(map[*Upstream]int)
			for range rounds {
				counts[sel.Select(ups, nil)]++
			}
			want := float64(rounds) / float64(n)
			for i, u := range ups {
				if got := float64(counts[u]); math.Abs(got-want) > 0.05*want {
					t.Errorf("upstream %d picked %v times, want about %v", i, got, want)
				}
			}
		})
	}
}

// TestSlowUpstreamGetsFewerPicks simulates one request per millisecond over
// fast (10ms) upstreams and one slow (100ms) upstream on the fake clock.
func TestSlowUpstreamGetsFewerPicks(t *testing.T) {
	tests := []struct {
		name     string
		n        int // upstreams; the last is slow
		maxShare float64
	}{
		{"two upstreams, full scan", 2, 0.15},
		{"five upstreams, p2c", 5, 0.08},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(tt.n)}})
			slow := p.Service("s").ups[tt.n-1]
			var queue []pending
			slowPicks := 0
			const requests = 20000
			for i := range requests {
				now := time.Duration(i+1) * time.Millisecond
				queue = completeDue(clock, queue, now)
				l := mustPick(t, p, "s", nil)
				lat := 10 * time.Millisecond
				if l.Upstream() == slow {
					lat, slowPicks = 100*time.Millisecond, slowPicks+1
				}
				queue = append(queue, pending{now + lat, l})
			}
			share := float64(slowPicks) / requests
			t.Logf("slow upstream got %.2f%% of %d picks", 100*share, requests)
			if share > tt.maxShare {
				t.Errorf("slow share = %.3f, want <= %.3f", share, tt.maxShare)
			}
		})
	}
}

// pending is a simulated request that completes at due.
type pending struct {
	due   time.Duration
	lease Lease
}

// completeDue ends, in due order, the leases due by now, moving the clock to
// each completion and finally to now, and returns the rest.
func completeDue(clock *fakeClock, queue []pending, now time.Duration) []pending {
	slices.SortStableFunc(queue, func(a, b pending) int { return cmp.Compare(a.due, b.due) })
	n := 0
	for ; n < len(queue) && queue[n].due <= now; n++ {
		clock.Advance(queue[n].due - time.Duration(clock.offset.Load()))
		queue[n].lease.Done(Outcome{Status: 200})
	}
	clock.Advance(now - time.Duration(clock.offset.Load()))
	return append(queue[:0], queue[n:]...)
}
