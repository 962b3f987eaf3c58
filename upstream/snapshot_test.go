package upstream

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSnapshot(t *testing.T) {
	p, clock := testPool(t, Options{
		Services:         map[string][]string{"b": {"http://b1"}, "a": {"http://a1", "http://a2"}},
		FailureThreshold: 2, Cooldown: time.Minute,
	})
	a1, a2 := p.Service("a").ups[0], p.Service("a").ups[1]

	l := mustPick(t, p, "a", a2)
	clock.Advance(40 * time.Millisecond)
	l.Done(status(200))
	mustPick(t, p, "a", a2).Done(canceled())
	held := mustPick(t, p, "a", a2)
	a1.CountRetry()
	a1.StreamOpened(SSE)
	a1.StreamOpened(WebSocket)
	a1.StreamOpened(WebSocket)
	a1.StreamClosed(WebSocket)

	mustPick(t, p, "a", a1).Done(status(502))
	clock.Advance(time.Second)
	failedAt := clock.Now()
	mustPick(t, p, "a", a1).Done(Outcome{Err: errors.New("read tcp: connection reset by peer")})

	clock.Advance(10 * time.Second)
	s := p.Snapshot()
	if !s.TakenAt.Equal(clock.Now()) {
		t.Errorf("TakenAt = %v, want %v", s.TakenAt, clock.Now())
	}
	if len(s.Services) != 2 || s.Services[0].Name != "a" || s.Services[1].Name != "b" {
		t.Fatalf("services = %+v, want a, b", s.Services)
	}
	if s.RetryBudget != (RetryBudgetSnapshot{Active: 0, Limit: 3}) {
		t.Errorf("retry budget = %+v", s.RetryBudget)
	}
	got1, got2 := s.Services[0].Upstreams[0], s.Services[0].Upstreams[1]
	want1 := counters{
		Service: "a", URL: "http://a1", Requests: 3, Successes: 1, Canceled: 1, Retries: 1, Inflight: 1,
		State: StateClosed, ActiveSSE: 1, ActiveWebSocket: 1,
	}
	if got := countersOf(got1); got != want1 {
		t.Errorf("a1 =\n%+v\nwant\n%+v", got, want1)
	}
	wantEWMA := 40e6 * math.Exp(-1.1) // one 40ms sample, then 11s of decay with tau 10s
	if math.Abs(float64(got1.EWMA)-wantEWMA) > 1 || math.Abs(got1.EWMAMillis-wantEWMA/1e6) > 1e-6 {
		t.Errorf("a1 EWMA = %s (%gms), want %gms", got1.EWMA, got1.EWMAMillis, wantEWMA/1e6)
	}
	wantReason := "2 consecutive failures; last: read tcp: connection reset by peer"
	if got2.State != StateOpen || got2.Failures != 2 || got2.Trips != 1 || got2.LastTripReason != wantReason ||
		!got2.LastTripAt.Equal(failedAt) || !got2.OpenUntil.Equal(failedAt.Add(time.Minute)) ||
		got2.LastError != "read tcp: connection reset by peer" || !got2.LastErrorAt.Equal(failedAt) {
		t.Errorf("a2 = %+v", got2)
	}
	held.Done(status(200))

	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"takenAt":`, `"retryBudget":{"active":0,"limit":3}`, `"ewmaMs":`, `"state":"open"`,
		`"state":"closed"`, `"lastTripReason":"2 consecutive`, `"openUntil":`, `"activeSse":1`, `"activeWebSocket":1`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s:\n%s", key, raw)
		}
	}
	if strings.Contains(string(raw), `"lastErrorAt":"0001`) {
		t.Error("zero times are not omitted")
	}
}

// counters is the comparable part of an UpstreamSnapshot that this package's
// own stats fill in.
type counters struct {
	Service, URL                                               string
	Requests, Successes, Failures, Canceled, Retries, Inflight int64
	State                                                      State
	Trips                                                      int64
	LastTripReason, LastError                                  string
	ActiveSSE, ActiveWebSocket                                 int64
}

func countersOf(s UpstreamSnapshot) counters {
	return counters{
		Service: s.Service, URL: s.URL, Requests: s.Requests, Successes: s.Successes, Failures: s.Failures,
		Canceled: s.Canceled, Retries: s.Retries, Inflight: s.Inflight, State: s.State, Trips: s.Trips,
		LastTripReason: s.LastTripReason, LastError: s.LastError,
		ActiveSSE: s.ActiveSSE, ActiveWebSocket: s.ActiveWebSocket,
	}
}
