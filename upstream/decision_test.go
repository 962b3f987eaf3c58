package upstream

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"
)

// logPool builds a pool of service "s" with n upstreams and a decision log
// of size entries, on a fake clock.
func logPool(t testing.TB, n, size int) (*Pool, *fakeClock, []*Upstream) {
	t.Helper()
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(n)}, DecisionLogSize: size, FailureThreshold: 1})
	return p, clock, p.Service("s").ups
}

func route(t testing.TB, p *Pool, tr *Trace) Lease {
	t.Helper()
	l, err := p.Service("s").Route(tr)
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	return l
}

func TestDecisionLogRecordsTheComparison(t *testing.T) {
	p, clock, ups := logPool(t, 3, 8)
	sample(t, p, clock, ups[0], 40*time.Millisecond)
	sample(t, p, clock, ups[1], 10*time.Millisecond)
	ups[1].inflight.Add(2) // one request, one stream: 10ms × 2 = 20 beats 40ms × 1
	ticket, _ := ups[2].br.allow(p.sh.now())
	ups[2].br.record(ticket, verdictFailure, p.sh.now(), &Outcome{Status: 503})
	ups[1].StreamOpened(SSE)
	clock.Advance(time.Second)

	l := route(t, p, &Trace{RequestID: []byte("req-1")})
	if l.Upstream() != ups[1] {
		t.Fatalf("chose %v, want %v", l.Upstream(), ups[1])
	}
	l.Done(status(200))
	ups[1].StreamClosed(SSE)

	d, ok := p.Decision("req-1")
	if !ok {
		t.Fatal("decision req-1 not found")
	}
	if d.RequestID != "req-1" || d.Service != "s" || d.Kind != "request" || d.Chosen != ups[1].String() {
		t.Errorf("decision = %+v", d)
	}
	if want := p.sh.wall(p.sh.now()); !d.Time.Equal(want) {
		t.Errorf("time = %v, want %v", d.Time, want)
	}
	if len(d.Candidates) != 3 || len(d.Retries) != 0 {
		t.Fatalf("candidates %+v retries %+v", d.Candidates, d.Retries)
	}
	decay := math.Exp(-float64(time.Second) / float64(DefaultTau))
	a, b, c := d.Candidates[0], d.Candidates[1], d.Candidates[2]
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-6*want }
	// a sampled 40ms before b's 10ms: its cost decayed 10ms longer.
	aDecay := math.Exp(-float64(time.Second+10*time.Millisecond) / float64(DefaultTau))
	if a.Upstream != ups[0].String() || !near(a.EWMAMillis, 40*aDecay) || !near(a.Score, 40*aDecay) ||
		a.Inflight != 0 || a.Breaker != StateClosed || a.Skipped != "" {
		t.Errorf("candidate a = %+v", a)
	}
	if b.Upstream != ups[1].String() || !near(b.EWMAMillis, 10*decay) || !near(b.Score, 20*decay) ||
		b.Inflight != 2 || b.Streams != 1 || b.Skipped != "" {
		t.Errorf("candidate b = %+v", b)
	}
	if c.Upstream != ups[2].String() || c.Breaker != StateOpen || c.Skipped != "breaker open" || c.Score != 0 {
		t.Errorf("candidate c = %+v", c)
	}
}

func TestDecisionLogRetry(t *testing.T) {
	p, _, ups := logPool(t, 2, 8)
	tr := Trace{RequestID: []byte("req-r"), Stream: true}
	first := route(t, p, &tr)
	first.Done(Outcome{Err: errDial})
	tr.Retry(first.Upstream(), "upstream unreachable")
	second := route(t, p, &tr)
	second.Done(status(200))
	tr.Retry(second.Upstream(), "upstream unreachable")
	if _, err := p.Service("s").Route(&tr); err == nil { // both excluded or open now
		t.Log("a third route found an upstream") // not asserted: only the log matters here
	}

	d, ok := p.Decision("req-r")
	if !ok {
		t.Fatal("decision not found")
	}
	if d.Kind != "stream" || d.Chosen != first.Upstream().String() {
		t.Errorf("decision = %+v", d)
	}
	want := []RetryDecision{
		{Upstream: first.Upstream().String(), Reason: "upstream unreachable", RetriedOn: second.Upstream().String()},
		{Upstream: second.Upstream().String(), Reason: "upstream unreachable", RetriedOn: ""},
	}
	if fmt.Sprint(d.Retries) != fmt.Sprint(want) {
		t.Errorf("retries = %+v, want %+v", d.Retries, want)
	}
	if second.Upstream() == first.Upstream() || len(ups) != 2 {
		t.Errorf("retry went to the failed upstream")
	}
}

var errDial = fmt.Errorf("dial tcp: connection refused")

func TestDecisionLogRing(t *testing.T) {
	p, _, _ := logPool(t, 2, 3)
	for i := range 5 {
		route(t, p, &Trace{RequestID: []byte("id-" + strconv.Itoa(i))}).Done(status(200))
	}
	for i := range 5 {
		_, ok := p.Decision("id-" + strconv.Itoa(i))
		if want := i >= 2; ok != want {
			t.Errorf("Decision(id-%d) found = %v, want %v", i, ok, want)
		}
	}
	var got []string
	for _, d := range p.Decisions(10) {
		got = append(got, d.RequestID)
	}
	if fmt.Sprint(got) != "[id-4 id-3 id-2]" {
		t.Errorf("Decisions = %v", got)
	}
	if got := p.Decisions(1); len(got) != 1 || got[0].RequestID != "id-4" {
		t.Errorf("Decisions(1) = %+v", got)
	}
	if s := p.DecisionLogStats(); s != (DecisionLogStats{Size: 3, Recorded: 5}) {
		t.Errorf("stats = %+v", s)
	}
	// The same id twice: the newest wins.
	route(t, p, &Trace{RequestID: []byte("id-4"), Stream: true}).Done(status(200))
	if d, _ := p.Decision("id-4"); d.Kind != "stream" {
		t.Errorf("Decision(id-4) = %+v, want the newer stream decision", d)
	}
}

func TestDecisionLogOff(t *testing.T) {
	p, _, _ := logPool(t, 2, 0)
	route(t, p, &Trace{RequestID: []byte("x")}).Done(status(200))
	if _, ok := p.Decision("x"); ok {
		t.Error("a decision was logged with the log off")
	}
	if p.Decisions(5) != nil || p.DecisionLogStats() != (DecisionLogStats{}) {
		t.Error("the log off reports entries")
	}
	q, _, _ := logPool(t, 2, 4)
	route(t, q, &Trace{}).Done(status(200)) // no request id: nothing logged
	if len(q.Decisions(5)) != 0 {
		t.Error("a trace without id was logged")
	}
	if _, ok := q.Decision(""); ok {
		t.Error("Decision(\"\") found one")
	}
}

func TestDecisionLogNoUpstream(t *testing.T) {
	p, _, ups := logPool(t, 2, 4)
	for _, u := range ups {
		ticket, _ := u.br.allow(p.sh.now())
		u.br.record(ticket, verdictFailure, p.sh.now(), &Outcome{Status: 503})
	}
	if _, err := p.Service("s").Route(&Trace{RequestID: []byte("none")}); err == nil {
		t.Fatal("Route found an upstream with every breaker open")
	}
	d, ok := p.Decision("none")
	if !ok || d.Chosen != "" || len(d.Candidates) != 2 || d.Candidates[0].Skipped != "breaker open" {
		t.Errorf("decision = %+v, %v", d, ok)
	}
}

func TestDecisionLogLongIDTruncated(t *testing.T) {
	p, _, _ := logPool(t, 2, 4)
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	route(t, p, &Trace{RequestID: long}).Done(status(200))
	if _, ok := p.Decision(string(long)); ok {
		t.Error("an id over 128 bytes was found")
	}
	if d := p.Decisions(1); len(d) != 1 || len(d[0].RequestID) != maxIDLen {
		t.Errorf("Decisions = %+v", d)
	}
}

func TestRouteDoesNotAllocate(t *testing.T) {
	p, _, _ := logPool(t, 8, 64)
	svc := p.Service("s")
	id := []byte("0123456789abcdef-1z")
	allocs := testing.AllocsPerRun(1000, func() {
		tr := Trace{RequestID: id}
		l, err := svc.Route(&tr)
		if err != nil {
			t.Fatal(err)
		}
		l.Done(status(200))
	})
	if allocs != 0 {
		t.Errorf("Route+Done allocates %.1f times per request", allocs)
	}
}

// TestDecisionLogConcurrent writes and reads the ring from many goroutines;
// under -race it proves every access is ordered, and each entry read back
// must be whole: its candidates belong to its own request.
func TestDecisionLogConcurrent(t *testing.T) {
	p, _, _ := logPool(t, 3, 16)
	svc := p.Service("s")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := []byte(fmt.Sprintf("w%d-%d", w, i))
				tr := Trace{RequestID: id, Stream: i%2 == 0}
				l, err := svc.Route(&tr)
				if err != nil {
					t.Error(err)
					return
				}
				l.Done(status(200))
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, d := range p.Decisions(16) {
				var w, i int
				if _, err := fmt.Sscanf(d.RequestID, "w%d-%d", &w, &i); err != nil {
					t.Errorf("torn id %q", d.RequestID)
				}
				if want := map[bool]string{true: "stream", false: "request"}[i%2 == 0]; d.Kind != want || len(d.Candidates) != 3 {
					t.Errorf("torn entry %+v", d)
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	s := p.DecisionLogStats()
	if s.Recorded+s.Dropped != 8000 {
		t.Errorf("stats = %+v, want 8000 recorded or dropped", s)
	}
}

func TestStateTextRoundTrip(t *testing.T) {
	for _, s := range []State{StateClosed, StateHalfOpen, StateOpen} {
		b, _ := s.MarshalText()
		var got State
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("%v: got %v, %v", s, got, err)
		}
	}
	var s State
	if err := s.UnmarshalText([]byte("ajar")); err == nil {
		t.Error("an unknown state decoded")
	}
}
