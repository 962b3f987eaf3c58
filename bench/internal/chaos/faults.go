package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"gateway/bench/internal/faultup"
	"gateway/bench/internal/mixed"
	"gateway/bench/internal/rig"
)

// fault is one step of the script: what breaks upstream b and what mends it.
type fault struct {
	name  string
	what  string
	apply func(context.Context, *rig.Upstream) error
	heal  func(context.Context, *rig.Upstream) error
}

// faults is the script, in order.
func faults() []fault {
	mode := func(m faultup.Mode) func(context.Context, *rig.Upstream) error {
		return func(ctx context.Context, u *rig.Upstream) error { return u.SetMode(ctx, m) }
	}
	return []fault{
		{"kill", "SIGKILL, then a new process on the same port",
			func(_ context.Context, u *rig.Upstream) error { u.Kill(); return nil },
			func(ctx context.Context, u *rig.Upstream) error { return u.Restart(ctx) }},
		{"500", "every request answered 500", mode(faultup.Mode500), mode(faultup.ModeOK)},
		{"hang", "requests read, never answered", mode(faultup.ModeHang), mode(faultup.ModeOK)},
		{"drop", "answers and streams cut mid-way", mode(faultup.ModeDrop), mode(faultup.ModeOK)},
		{"blackhole", "proxy frozen: nothing accepted, nothing moves",
			func(_ context.Context, u *rig.Upstream) error { u.Proxy.Freeze(); return nil },
			func(_ context.Context, u *rig.Upstream) error { u.Proxy.Thaw(); return nil }},
	}
}

// Phase is the timeline of one fault.
type Phase struct {
	Name, What string
	Start      time.Time // the fault applied
	Heal       time.Time // mending began
	Healed     time.Time // mended (a restarted process answers)
	Recovered  time.Time // the first GET b answered 2xx after mending began (zero: not within -recover-wait)
	Readded    time.Time // b re-added to the gateway when it had not recovered (zero: not needed)
	End        time.Time // the next fault may start
	// InUse says b answered a GET in the second before the fault: when it
	// had not come back from the previous fault, this one found it out of
	// rotation already and tested little.
	InUse bool
}

// script runs the faults on upstream b, one after the other, each followed
// by its recovery and c.Settle of steady traffic.
func script(ctx context.Context, c Config, r *rig.Rig, tr *mixed.Traffic, w io.Writer) ([]Phase, error) {
	b := r.Upstreams[1]
	warm := time.Now()
	if err := waitUntil(ctx, 10*time.Second, func() bool {
		return tr.LastOK("a").After(warm) && tr.LastOK("b").After(warm)
	}); err != nil {
		return nil, fmt.Errorf("both upstreams answering before the first fault: %w", err)
	}
	if !sleep(ctx, c.Settle) {
		return nil, ctx.Err()
	}
	var phases []Phase
	for _, f := range faults() {
		ph := Phase{Name: f.name, What: f.what, Start: time.Now()}
		ph.InUse = ph.Start.Sub(tr.LastOK("b")) < time.Second
		if err := f.apply(ctx, b); err != nil {
			return nil, fmt.Errorf("fault %s: %w", f.name, err)
		}
		if !sleep(ctx, c.Fault) {
			return nil, ctx.Err()
		}
		ph.Heal = time.Now()
		if err := f.heal(ctx, b); err != nil {
			return nil, fmt.Errorf("healing %s: %w", f.name, err)
		}
		ph.Healed = time.Now()
		if waitUntil(ctx, c.RecoverWait, func() bool { return !tr.LastOK("b").Before(ph.Heal) }) == nil {
			ph.Recovered = tr.LastOK("b")
		} else if ctx.Err() == nil {
			// Re-added, the next fault meets b in rotation again.
			if err := r.Readd(ctx, b); err != nil {
				return nil, err
			}
			ph.Readded = time.Now()
			if waitUntil(ctx, 5*time.Second, func() bool { return tr.LastOK("b").After(ph.Readded) }) != nil {
				return nil, fmt.Errorf("after fault %s, b re-added answered no GET within 5s", f.name)
			}
		}
		if ctx.Err() != nil || !sleep(ctx, c.Settle) {
			return nil, ctx.Err()
		}
		ph.End = time.Now()
		fmt.Fprintf(w, "fault %-9s %5.1fs, recovered: %v\n", f.name, ph.End.Sub(ph.Start).Seconds(), !ph.Recovered.IsZero())
		phases = append(phases, ph)
	}
	return phases, nil
}

// waitUntil polls cond every 20 ms until it holds, bound passes or ctx ends.
func waitUntil(ctx context.Context, bound time.Duration, cond func() bool) error {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", bound)
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sample is one reading of upstream b's breaker from /metrics.
type sample struct {
	at       time.Time
	state    float64 // 0 closed, 1 half-open, 2 open
	trips    float64
	attempts float64 // requests the gateway sent b, every outcome
}

// watch reads b's breaker every 50 ms while the script runs.
type watch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	got    []sample
}

func startWatch(ctx context.Context, r *rig.Rig) *watch {
	ctx, cancel := context.WithCancel(ctx)
	wt := &watch{cancel: cancel}
	addr := r.Upstreams[1].Proxy.Addr()
	hc := &http.Client{Timeout: time.Second}
	wt.wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			fams, err := r.Metrics(ctx, hc)
			if err != nil {
				continue // the gateway is busy; the next tick reads again
			}
			st, ok1 := rig.Gauge(fams, "gateway_upstream_breaker_state", addr)
			tr, ok2 := rig.Gauge(fams, "gateway_upstream_breaker_trips_total", addr)
			n, ok3 := rig.Sum(fams, "gateway_upstream_requests_total", addr)
			if ok1 && ok2 && ok3 {
				wt.mu.Lock()
				wt.got = append(wt.got, sample{at: time.Now(), state: st, trips: tr, attempts: n})
				wt.mu.Unlock()
			}
		}
	})
	return wt
}

func (wt *watch) stop() { wt.cancel(); wt.wg.Wait() }

func (wt *watch) samples() []sample {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return append([]sample(nil), wt.got...)
}
