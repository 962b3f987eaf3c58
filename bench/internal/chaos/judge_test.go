package chaos

import (
	"testing"
	"time"

	"gateway/bench/internal/mixed"
)

func TestEjectionAndFailuresAfterIt(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ph := Phase{Name: "500", Start: at(0), Heal: at(3000), End: at(6000)}
	samples := []sample{
		{at: at(-50), attempts: 100, trips: 1},
		{at: at(50), attempts: 103},
		{at: at(100), attempts: 105, state: 2, trips: 2}, // open, and b's last request
		{at: at(150), attempts: 105, state: 2, trips: 2},
		{at: at(2000), attempts: 105, state: 2, trips: 2},
	}
	reqs := []mixed.Request{
		{ID: "before", Start: at(10), Status: 500},
		{ID: "after-on-b", Start: at(200), Status: 502},
		{ID: "after-on-a", Start: at(300), Status: 504},
		{ID: "ok", Start: at(400), Status: 200},
		{ID: "next-phase", Start: at(7000), Status: 500},
	}
	pr := judgePhase(ph, reqs, nil, samples, map[string]string{"after-on-b": "b", "after-on-a": "a"})
	if !pr.BreakerOpen.Equal(at(100)) || !pr.OffB.Equal(at(100)) || !pr.Ejected.Equal(at(100)) {
		t.Fatalf("breaker open %v, off b %v, ejected %v; want all at +100ms",
			pr.BreakerOpen.Sub(t0), pr.OffB.Sub(t0), pr.Ejected.Sub(t0))
	}
	if pr.Gets != 4 || pr.GetsFailed != 3 || pr.FailedAfterEject != 1 || pr.FailedOnA != 1 {
		t.Fatalf("gets %d failed %d after eject %d on a %d; want 4 3 1 1", pr.Gets, pr.GetsFailed, pr.FailedAfterEject, pr.FailedOnA)
	}
}

func TestOffBNeverWhenRequestsGrowToTheEnd(t *testing.T) {
	t0 := time.Now()
	ph := Phase{Start: t0, Heal: t0.Add(time.Second), End: t0.Add(2 * time.Second)}
	var samples []sample
	for i := range 20 {
		samples = append(samples, sample{at: t0.Add(time.Duration(i) * 50 * time.Millisecond), attempts: float64(i)})
	}
	if got := offB(ph, samples); !got.IsZero() {
		t.Fatalf("off b at %v, want never", got.Sub(t0))
	}
}

func TestWebSocketBounds(t *testing.T) {
	kill := time.Now()
	streams := []mixed.Stream{
		{WS: true, Client: 0, Upstream: "b", Opened: kill.Add(-time.Second), Ended: kill.Add(10 * time.Millisecond), CloseCode: 1001},
		{WS: true, Client: 1, Upstream: "b", Opened: kill.Add(-time.Second), Ended: kill.Add(3 * time.Second), CloseCode: 1006},
		{WS: true, Client: 2, Upstream: "a", Opened: kill.Add(-time.Second), Ended: kill.Add(time.Hour)},
		{WS: true, Client: 0, Dial: kill.Add(11 * time.Millisecond), Opened: kill.Add(20 * time.Millisecond), Upstream: "a"},
		{WS: true, Client: 1, Dial: kill.Add(3 * time.Second), Err: "502 Bad Gateway"},
	}
	ends := wsOnKilled(kill, streams)
	if len(ends) != 2 {
		t.Fatalf("%d WebSockets on the killed upstream, want 2", len(ends))
	}
	res := &Result{Gets: 1, WSOnKilled: ends}
	var bounds []string
	for _, b := range res.Broken() {
		bounds = append(bounds, b.Bound)
	}
	want := []string{"ws-close", "ws-reopen"} // client 1: 1006 after 3 s, then refused
	if len(bounds) != 2 || bounds[0] != want[0] || bounds[1] != want[1] {
		t.Fatalf("broken %v, want %v", bounds, want)
	}
}
