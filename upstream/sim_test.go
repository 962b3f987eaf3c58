package upstream

import (
	"container/heap"
	"testing"
	"time"
)

// reply is how a simulated upstream answers one request.
type reply struct {
	latency time.Duration
	status  int
}

// completion is a simulated request due to finish at a clock offset.
type completion struct {
	at    time.Duration
	lease Lease
	r     reply
}

// completions is a min-heap of completions by due time.
type completions []completion

func (h completions) Len() int           { return len(h) }
func (h completions) Less(i, j int) bool { return h[i].at < h[j].at }
func (h completions) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *completions) Push(x any)        { *h = append(*h, x.(completion)) }
func (h *completions) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// sim drives a pool on its fake clock as a discrete-event simulation:
// requests arrive every interval and complete after the latency their
// upstream's reply gives them.
type sim struct {
	t       testing.TB
	p       *Pool
	clock   *fakeClock
	svc     *Service
	elapsed time.Duration // clock offset since the simulation began
	pending completions
	answer  func(u *Upstream, at time.Duration) reply
}

func newSim(t testing.TB, opts Options, answer func(u *Upstream, at time.Duration) reply) *sim {
	t.Helper()
	p, clock := testPool(t, opts)
	var name string
	for n := range opts.Services {
		name = n
	}
	return &sim{t: t, p: p, clock: clock, svc: p.Service(name), answer: answer}
}

// advanceTo moves the clock to at, completing every request due by then.
func (s *sim) advanceTo(at time.Duration) {
	for len(s.pending) > 0 && s.pending[0].at <= at {
		c := heap.Pop(&s.pending).(completion)
		s.clock.Advance(c.at - s.elapsed)
		s.elapsed = c.at
		c.lease.Done(Outcome{Status: c.r.status})
	}
	s.clock.Advance(at - s.elapsed)
	s.elapsed = at
}

// run sends a request every interval for d and returns how many first
// attempts each upstream received.
func (s *sim) run(d, interval time.Duration) map[*Upstream]int {
	got := make(map[*Upstream]int)
	end := s.elapsed + d
	for at := s.elapsed; at < end; at += interval {
		s.advanceTo(at)
		l, err := s.svc.Pick(nil)
		if err != nil {
			s.t.Fatalf("Pick at %s: %v", at, err)
		}
		got[l.Upstream()]++
		r := s.answer(l.Upstream(), at)
		heap.Push(&s.pending, completion{at: at + r.latency, lease: l, r: r})
	}
	s.advanceTo(end)
	return got
}

// share is u's fraction of the attempts in got.
func share(got map[*Upstream]int, u *Upstream) float64 {
	total := 0
	for _, n := range got {
		total += n
	}
	return float64(got[u]) / float64(total)
}

// TestFastFailuresLoseTraffic: an upstream that starts answering fast with a
// failure (a 500 it counts as failure, or a 429) loses most of its traffic
// within a second through its score alone (the breaker is set never to
// open), though it answers ten times faster than its healthy peer.
func TestFastFailuresLoseTraffic(t *testing.T) {
	for _, status := range []int{500, 429} {
		t.Run(statusName(status), func(t *testing.T) {
			var broken time.Duration = -1
			s := newSim(t, Options{
				Services:         map[string][]string{"s": urls(2)},
				FailureThreshold: 1 << 30,
			}, nil)
			bad := s.svc.ups[1]
			s.answer = func(u *Upstream, at time.Duration) reply {
				if u == bad && broken >= 0 && at >= broken {
					return reply{time.Millisecond, status}
				}
				return reply{10 * time.Millisecond, 200}
			}
			warm := s.run(2*time.Second, 2*time.Millisecond)
			if sh := share(warm, bad); sh < 0.35 || sh > 0.65 {
				t.Fatalf("healthy share of the second upstream = %.2f, want about half", sh)
			}
			broken = s.elapsed
			first := s.run(500*time.Millisecond, 2*time.Millisecond)
			second := s.run(500*time.Millisecond, 2*time.Millisecond)
			t.Logf("share of the failing upstream: first 0.5s %.3f, second 0.5s %.3f", share(first, bad), share(second, bad))
			if sh := share(first, bad); sh > 0.2 {
				t.Errorf("failing upstream got %.2f of the first half second, want < 0.2", sh)
			}
			if sh := share(second, bad); sh > 0.05 {
				t.Errorf("failing upstream got %.2f of the second half second, want < 0.05", sh)
			}
			if st := bad.State(); st != StateClosed {
				t.Errorf("breaker state = %s; the test means to show the score alone", st)
			}
			if snap := bad.Snapshot(); snap.EWMA < 20*time.Millisecond {
				t.Errorf("failing upstream's EWMA = %s, want the penalty to show", snap.EWMA)
			}
		})
	}
}

func statusName(status int) string {
	if status == 429 {
		return "429"
	}
	return "500"
}

// holdStreams opens n idle streams on u as the proxy does: a lease held
// for the stream's life, counted by StreamOpened once established.
func holdStreams(t testing.TB, u *Upstream, n int) {
	t.Helper()
	for range n {
		ticket, ok := u.br.allow(u.sh.now())
		if !ok {
			t.Fatalf("breaker of %s refused", u)
		}
		u.inflight.Add(1)
		l := Lease{u: u, start: u.sh.now(), ticket: ticket}
		l.Settle(Outcome{Status: 200, Latency: time.Millisecond})
		u.StreamOpened(SSE)
	}
}

// TestIdleStreamsAreNotRequests: an upstream holding 1,000 idle streams
// still gets its fair share of short requests, while new streams go to
// the upstream holding fewer.
func TestIdleStreamsAreNotRequests(t *testing.T) {
	s := newSim(t, Options{Services: map[string][]string{"s": urls(2)}}, func(*Upstream, time.Duration) reply {
		return reply{10 * time.Millisecond, 200}
	})
	busy, other := s.svc.ups[0], s.svc.ups[1]
	holdStreams(t, busy, 1000)
	got := s.run(2*time.Second, 2*time.Millisecond)
	t.Logf("share of requests on the upstream holding 1000 streams: %.3f", share(got, busy))
	if sh := share(got, busy); sh < 0.4 || sh > 0.6 {
		t.Errorf("upstream holding 1000 idle streams got %.2f of short requests, want 0.4-0.6", sh)
	}
	for i := range 100 {
		l, err := s.svc.PickStream(nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.Upstream() != other {
			t.Fatalf("new stream %d went to the upstream holding %d streams", i, busy.Snapshot().ActiveSSE)
		}
		l.Settle(Outcome{Status: 200, Latency: time.Millisecond})
		other.StreamOpened(SSE)
	}
}

// TestStreamsSpreadByCount: new streams between healthy upstreams of
// different (small) latencies spread by count, and avoid one that fails.
func TestStreamsSpreadByCount(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(3)}})
	ups := p.Service("s").ups
	sample(t, p, clock, ups[0], 2*time.Millisecond)
	sample(t, p, clock, ups[1], 40*time.Millisecond)
	l := mustPick(t, p, "s", nil)
	for l.Upstream() != ups[2] {
		l.Done(Outcome{Status: 200})
		l = mustPick(t, p, "s", ups[0])
	}
	l.Done(Outcome{Status: 503})
	counts := map[*Upstream]int{}
	for range 300 {
		l, err := p.Service("s").PickStream(nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Settle(Outcome{Status: 200, Latency: time.Millisecond})
		l.Upstream().StreamOpened(WebSocket)
		counts[l.Upstream()]++
	}
	if counts[ups[2]] > 3 { // its cost is the 30s penalty against 300ms floors: about 1 in 100
		t.Errorf("the failing upstream got %d of 300 streams, want at most 3", counts[ups[2]])
	}
	if d := counts[ups[0]] - counts[ups[1]]; d < -1 || d > 1 {
		t.Errorf("streams on 2ms and 40ms upstreams = %d and %d, want equal counts", counts[ups[0]], counts[ups[1]])
	}
}
