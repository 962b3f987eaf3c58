package upstream

import (
	"cmp"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// bstep is one step of a breaker scenario on a one-upstream service.
type bstep struct {
	advance     time.Duration
	do          []Outcome     // each one Pick then Done
	want        State         // state after the step
	wantRefused bool          // a further Pick returns ErrNoUpstream
	wantOpenFor time.Duration // when open: cooldown left
}

// status is the outcome of a response with code; canceled of a client that
// went away; dialRefused of an upstream that refuses connections.
func status(code int) Outcome { return Outcome{Status: code} }

func canceled() Outcome { return Outcome{Canceled: true, Err: errors.New("client went away")} }

func dialRefused() Outcome {
	return Outcome{Err: errors.New("dial tcp 10.0.0.1:8080: connect: connection refused")}
}

func repeat(o Outcome, n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

func TestBreaker(t *testing.T) {
	const cool = 10 * time.Second
	tests := []struct {
		name          string
		failureStatus func(int) bool
		maxCooldown   time.Duration // 0 means 5 * cool
		steps         []bstep
		wantTrips     int64
		wantReason    string
	}{
		{name: "threshold consecutive failures open it", steps: []bstep{
			{do: repeat(status(503), 2), want: StateClosed},
			{do: repeat(status(503), 1), want: StateOpen, wantRefused: true, wantOpenFor: cool},
		}, wantTrips: 1, wantReason: "3 consecutive failures; last: status 503"},
		{name: "a success resets the count", steps: []bstep{
			{do: []Outcome{status(503), status(503), status(200), status(503), status(503)}, want: StateClosed},
			{do: []Outcome{status(500)}, want: StateOpen},
		}, wantTrips: 1},
		{name: "transport errors count", steps: []bstep{
			{do: []Outcome{status(503), status(503), dialRefused()}, want: StateOpen, wantRefused: true},
		}, wantTrips: 1, wantReason: "3 consecutive failures; last: dial tcp 10.0.0.1:8080: connect: connection refused"},
		{name: "canceled is neither success nor failure", steps: []bstep{
			{do: []Outcome{status(503), status(503), canceled(), canceled()}, want: StateClosed},
			{do: []Outcome{status(503)}, want: StateOpen},
		}, wantTrips: 1},
		{name: "FailureStatus narrows what counts", failureStatus: func(s int) bool { return s == 503 },
			steps: []bstep{
				{do: repeat(status(500), 10), want: StateClosed},
				{do: repeat(status(503), 3), want: StateOpen},
			}, wantTrips: 1},
		{name: "cooldown then exactly one probe", steps: []bstep{
			{do: repeat(status(503), 3), want: StateOpen},
			{advance: cool - 1, want: StateOpen, wantRefused: true, wantOpenFor: 1},
			{advance: 1, want: StateOpen}, // available, but not half-open until someone asks
		}, wantTrips: 1},
		{name: "probe success closes and resets the cooldown", steps: []bstep{
			{do: repeat(status(503), 3), want: StateOpen},
			{advance: cool, do: []Outcome{status(503)}, want: StateOpen, wantOpenFor: 2 * cool},
			{advance: 2 * cool, do: []Outcome{status(200)}, want: StateClosed},
			{do: repeat(status(503), 3), want: StateOpen, wantOpenFor: cool},
		}, wantTrips: 3},
		{name: "probe failure doubles the cooldown up to the max", steps: []bstep{
			{do: repeat(status(503), 3), want: StateOpen, wantOpenFor: cool},
			{advance: cool, do: []Outcome{status(503)}, want: StateOpen, wantOpenFor: 2 * cool},
			{advance: 2 * cool, do: []Outcome{status(503)}, want: StateOpen, wantOpenFor: 4 * cool},
			{advance: 4 * cool, do: []Outcome{status(503)}, want: StateOpen, wantOpenFor: 5 * cool},
			{advance: 5 * cool, do: []Outcome{dialRefused()}, want: StateOpen, wantOpenFor: 5 * cool},
		}, wantTrips: 5, wantReason: "half-open probe failed; last: dial tcp 10.0.0.1:8080: connect: connection refused"},
		{name: "a max below the base cooldown is raised to it", maxCooldown: cool / 2, steps: []bstep{
			{do: repeat(status(503), 3), want: StateOpen, wantOpenFor: cool},
			{advance: cool, do: []Outcome{status(503)}, want: StateOpen, wantOpenFor: cool},
		}, wantTrips: 2},
		{name: "canceled probe frees the probe slot", steps: []bstep{
			{do: repeat(status(503), 3), want: StateOpen},
			{advance: cool, do: []Outcome{canceled()}, want: StateHalfOpen},
			{do: []Outcome{status(200)}, want: StateClosed},
		}, wantTrips: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clock := testPool(t, Options{
				Services:         map[string][]string{"s": urls(1)},
				FailureThreshold: 3, Cooldown: cool, MaxCooldown: cmp.Or(tt.maxCooldown, 5*cool),
				FailureStatus: tt.failureStatus,
			})
			u := p.Service("s").ups[0]
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				for _, o := range st.do {
					mustPick(t, p, "s", nil).Done(o)
				}
				if got := u.State(); got != st.want {
					t.Fatalf("step %d: state = %s, want %s", i, got, st.want)
				}
				if left := time.Duration(u.br.openUntil.Load() - p.sh.now()); st.wantOpenFor != 0 && left != st.wantOpenFor {
					t.Errorf("step %d: open for %s, want %s", i, left, st.wantOpenFor)
				}
				if st.wantRefused {
					if _, err := p.Service("s").Pick(nil); !errors.Is(err, ErrNoUpstream) {
						t.Fatalf("step %d: Pick err = %v, want ErrNoUpstream", i, err)
					}
				}
			}
			if got := u.br.trips.Load(); got != tt.wantTrips {
				t.Errorf("trips = %d, want %d", got, tt.wantTrips)
			}
			if tt.wantReason != "" {
				if tr := u.br.lastTrip.Load(); tr == nil || tr.reason != tt.wantReason {
					t.Errorf("last trip reason = %+v, want %q", tr, tt.wantReason)
				}
			}
			if n := u.Inflight(); n != 0 {
				t.Errorf("inflight = %d after all leases done", n)
			}
		})
	}
}

func TestBreakerHalfOpenAdmitsOneProbe(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}, FailureThreshold: 1, Cooldown: time.Second})
	svc := p.Service("s")
	mustPick(t, p, "s", nil).Done(status(503))
	clock.Advance(time.Second)
	probe := mustPick(t, p, "s", nil)
	if got := probe.Upstream().State(); got != StateHalfOpen {
		t.Fatalf("state with probe out = %s, want half-open", got)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if l, err := svc.Pick(nil); err == nil {
				l.Done(status(200))
				t.Error("a second request got through while the probe was out")
			}
		})
	}
	wg.Wait()
	probe.Done(status(200))
	if got := probe.Upstream().State(); got != StateClosed {
		t.Errorf("state after probe success = %s, want closed", got)
	}
}

// TestBreakerIgnoresStaleResults: leases admitted before a transition must
// not count in the next state, as with gobreaker's generations.
func TestBreakerIgnoresStaleResults(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}, FailureThreshold: 2, Cooldown: time.Second})
	u := p.Service("s").ups[0]
	early := []Lease{mustPick(t, p, "s", nil), mustPick(t, p, "s", nil), mustPick(t, p, "s", nil), mustPick(t, p, "s", nil)}
	early[0].Done(status(503))
	early[1].Done(status(503)) // trips
	early[2].Done(status(200)) // admitted while closed: must not close it
	if got := u.State(); got != StateOpen {
		t.Fatalf("state after a stale success = %s, want open", got)
	}
	clock.Advance(time.Second)
	probe := mustPick(t, p, "s", nil)
	early[3].Done(status(200)) // must not settle the probe
	if got := u.State(); got != StateHalfOpen {
		t.Fatalf("state after a stale success during the probe = %s, want half-open", got)
	}
	probe.Done(status(200)) // closes
	old := mustPick(t, p, "s", nil)
	mustPick(t, p, "s", nil).Done(status(503))
	mustPick(t, p, "s", nil).Done(status(503)) // second trip
	clock.Advance(time.Second)
	mustPick(t, p, "s", nil).Done(status(200)) // third closed generation
	old.Done(status(503))                      // from the second: must not count now
	mustPick(t, p, "s", nil).Done(status(503))
	if got, trips := u.State(), u.br.trips.Load(); got != StateClosed || trips != 2 {
		t.Errorf("state, trips = %s, %d, want closed, 2: a stale failure counted", got, trips)
	}
}

// TestBreakerSettlesProbeOnce: a second report with the probe's ticket (a
// double Done) must not re-open or re-close the breaker.
func TestBreakerSettlesProbeOnce(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}, FailureThreshold: 1, Cooldown: time.Second})
	u := p.Service("s").ups[0]
	mustPick(t, p, "s", nil).Done(status(503))
	clock.Advance(time.Second)
	ticket, ok := u.br.allow(p.sh.now())
	if !ok || stateOf(ticket) != StateHalfOpen {
		t.Fatalf("probe not admitted: %v, %s", ok, stateOf(ticket))
	}
	u.br.record(ticket, verdictSuccess, p.sh.now(), &Outcome{Status: 200})
	u.br.record(ticket, verdictFailure, p.sh.now(), &Outcome{Status: 503})
	if got, trips := u.State(), u.br.trips.Load(); got != StateClosed || trips != 1 {
		t.Errorf("state, trips = %s, %d, want closed, 1", got, trips)
	}
}

func TestBreakerOnStateChange(t *testing.T) {
	var mu sync.Mutex
	var got []string
	p, clock := testPool(t, Options{
		Services:         map[string][]string{"s": urls(1)},
		FailureThreshold: 1, Cooldown: time.Second,
		OnStateChange: func(u *Upstream, from, to State, reason string) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, u.Service()+": "+from.String()+" -> "+to.String()+" ("+reason+")")
		},
	})
	mustPick(t, p, "s", nil).Done(status(503))
	clock.Advance(time.Second)
	mustPick(t, p, "s", nil).Done(status(500))
	clock.Advance(2 * time.Second)
	mustPick(t, p, "s", nil).Done(status(200))
	want := []string{
		"s: closed -> open (1 consecutive failures; last: status 503)",
		"s: open -> half-open (cooldown elapsed; letting one probe through)",
		"s: half-open -> open (half-open probe failed; last: status 500)",
		"s: open -> half-open (cooldown elapsed; letting one probe through)",
		"s: half-open -> closed (probe succeeded)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
		num  int
	}{
		{StateClosed, "closed", 0}, {StateHalfOpen, "half-open", 1}, {StateOpen, "open", 2}, {State(7), "state(7)", 7},
	}
	for _, tt := range tests {
		if tt.s.String() != tt.want || int(tt.s) != tt.num {
			t.Errorf("State(%d) = %q, want %q", int(tt.s), tt.s.String(), tt.want)
		}
	}
}

// A long-lived stream that was the half-open probe settles at once: the
// breaker closes and other requests flow while the stream stays in flight.
func TestSettledProbeClosesTheBreakerWhileStillInFlight(t *testing.T) {
	p, clock := testPool(t, Options{Services: map[string][]string{"s": urls(1)}, FailureThreshold: 1, Cooldown: time.Second})
	svc := p.Service("s")
	mustPick(t, p, "s", nil).Done(status(503))
	clock.Advance(time.Second)
	stream := mustPick(t, p, "s", nil)
	u := stream.Upstream()
	if got := u.State(); got != StateHalfOpen {
		t.Fatalf("state with the probe out = %s, want half-open", got)
	}
	stream.Settle(Outcome{Status: 200, Latency: time.Millisecond})
	if got := u.State(); got != StateClosed {
		t.Fatalf("state after the probe settled = %s, want closed", got)
	}
	other, err := svc.Pick(nil)
	if err != nil {
		t.Fatalf("a request while the settled stream is open: %v", err)
	}
	other.Done(status(200))
	if got := u.Inflight(); got != 1 {
		t.Fatalf("inflight with the stream open = %d, want 1", got)
	}
	stream.Release()
	if got := u.Inflight(); got != 0 {
		t.Fatalf("inflight after Release = %d, want 0", got)
	}
	if s := u.Snapshot(); s.Successes != 2 || s.Requests != 3 {
		t.Fatalf("successes %d requests %d, want 2 and 3", s.Successes, s.Requests)
	}
}
