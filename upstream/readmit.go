package upstream

import "slices"

// readmit prepares u to take traffic again after an outage: its breaker
// closed after being open, or its health check passed again.
//
// Its peak-EWMA cost is reset to the median cost of its healthy peers. The
// failures that took it out fed the cost the failure penalty (30 s by
// default), which would otherwise decay only with τ (10 s): with three
// upstreams or fewer the selection scans and always takes the lowest
// score, so a healed upstream would get no request for a minute or more,
// and none to show that it healed. Conversely an upstream held out by its
// health check alone decays towards 0 while idle and would get every
// request at once. The peers' median is the best guess of what a healthy
// member of the service costs; the first answers then correct it. Without
// a sampled peer the estimate starts afresh, as for a new upstream.
func (u *Upstream) readmit(now int64) {
	if cost, ok := u.peerCost(now); ok {
		u.ewma.reset(now, cost)
	} else {
		u.ewma.init()
	}
}

// peerCost returns the median decayed cost of u's sampled peers that are in
// rotation, and whether there was one.
func (u *Upstream) peerCost(now int64) (float64, bool) {
	svc := u.svc.Load()
	if svc == nil {
		return 0, false
	}
	costs := make([]float64, 0, len(svc.ups))
	for _, p := range svc.ups {
		if p == u || p.health.down.Load() || p.br.state() != StateClosed {
			continue
		}
		if c, sampled := p.ewma.at(now, u.sh.tau); sampled {
			costs = append(costs, c)
		}
	}
	if len(costs) == 0 {
		return 0, false
	}
	slices.Sort(costs)
	if n := len(costs); n%2 == 0 {
		return (costs[n/2-1] + costs[n/2]) / 2, true
	}
	return costs[len(costs)/2], true
}
