package upstream

import "time"

// Snapshot is a point-in-time copy of the pool's statistics, for
// /admin/stats and the Prometheus collector. Counters are read one by one
// without a lock, so they are each exact but not mutually consistent.
type Snapshot struct {
	TakenAt     time.Time           `json:"takenAt"`
	Services    []ServiceSnapshot   `json:"services"` // sorted by name
	RetryBudget RetryBudgetSnapshot `json:"retryBudget"`
	DecisionLog DecisionLogStats    `json:"decisionLog"`
}

// ServiceSnapshot is one service's upstreams, in configured order.
type ServiceSnapshot struct {
	Name      string             `json:"name"`
	Upstreams []UpstreamSnapshot `json:"upstreams"`
}

// RetryBudgetSnapshot is the retry budget's use and current limit.
type RetryBudgetSnapshot struct {
	Active int64 `json:"active"`
	Limit  int64 `json:"limit"`
}

// UpstreamSnapshot is one upstream's statistics. Requests counts leases
// handed out; each ends as one of Successes, Failures, Canceled or PoolFull, or is
// still Inflight.
type UpstreamSnapshot struct {
	Service   string `json:"service"`
	URL       string `json:"url"`
	Requests  int64  `json:"requests"`
	Successes int64  `json:"successes"`
	Failures  int64  `json:"failures"`
	Canceled  int64  `json:"canceled"`
	PoolFull  int64  `json:"poolFull"` // no connection free within the pool wait: neither success nor failure
	Retries   int64  `json:"retries"`
	Inflight  int64  `json:"inflight"`

	// EWMA is the peak-EWMA latency decayed to TakenAt; EWMAMillis is the
	// same in milliseconds for JSON.
	EWMA       time.Duration `json:"-"`
	EWMAMillis float64       `json:"ewmaMs"`

	State          State     `json:"state"`
	Trips          int64     `json:"trips"`
	LastTripReason string    `json:"lastTripReason,omitempty"`
	LastTripAt     time.Time `json:"lastTripAt,omitzero"`
	OpenUntil      time.Time `json:"openUntil,omitzero"` // set while open

	// Health is what active health checks say ("unchecked" when they are
	// off); LastProbe is the latest probe, nil before the first.
	Health    Health         `json:"health"`
	LastProbe *ProbeSnapshot `json:"lastProbe,omitempty"`
	// ProbesPassed and ProbesFailed count health probes, which are never
	// counted as requests.
	ProbesPassed int64 `json:"probesPassed"`
	ProbesFailed int64 `json:"probesFailed"`

	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`

	ActiveSSE       int64 `json:"activeSse"`
	ActiveWebSocket int64 `json:"activeWebSocket"`

	// ConnsDiscarded counts the upstream's keep-alive connections closed
	// rather than reused because bytes no request asked for were on them,
	// or the upstream had closed them while idle.
	ConnsDiscarded ConnDiscards `json:"connsDiscarded"`

	// LatencyStats is embedded, so its JSON fields appear at this level.
	LatencyStats
}

// Snapshot returns the statistics of every current upstream.
func (p *Pool) Snapshot() Snapshot {
	now := p.sh.now()
	t := p.table.Load()
	s := Snapshot{
		TakenAt:     p.sh.wall(now),
		Services:    make([]ServiceSnapshot, 0, len(t.sorted)),
		RetryBudget: RetryBudgetSnapshot{Active: p.budget.Active(), Limit: p.budget.Limit()},
		DecisionLog: p.DecisionLogStats(),
	}
	for _, svc := range t.sorted {
		ss := ServiceSnapshot{Name: svc.name, Upstreams: make([]UpstreamSnapshot, 0, len(svc.ups))}
		for _, u := range svc.ups {
			ss.Upstreams = append(ss.Upstreams, u.snapshot(now))
		}
		s.Services = append(s.Services, ss)
	}
	return s
}

// Snapshot returns this upstream's statistics now.
func (u *Upstream) Snapshot() UpstreamSnapshot { return u.snapshot(u.sh.now()) }

func (u *Upstream) snapshot(now int64) UpstreamSnapshot {
	cost, _ := u.ewma.at(now, u.sh.tau)
	s := UpstreamSnapshot{
		Service:         u.service,
		URL:             u.base,
		Requests:        u.requests.Load(),
		Successes:       u.successes.Load(),
		Failures:        u.failures.Load(),
		Canceled:        u.canceled.Load(),
		PoolFull:        u.poolFull.Load(),
		Retries:         u.retries.Load(),
		Inflight:        u.inflight.Load(),
		EWMA:            time.Duration(cost),
		EWMAMillis:      cost / float64(time.Millisecond),
		State:           u.br.state(),
		Trips:           u.br.trips.Load(),
		ActiveSSE:       u.sse.Load(),
		ActiveWebSocket: u.ws.Load(),
		ConnsDiscarded:  u.discards.read(),
		Health:          u.healthOf(),
		LastProbe:       u.lastProbe(),
		ProbesPassed:    u.health.passed.Load(),
		ProbesFailed:    u.health.failed.Load(),
	}
	s.LatencyStats = u.latency.read(now, u.sh.wall)
	if s.State == StateOpen {
		s.OpenUntil = u.sh.wall(u.br.openUntil.Load())
	}
	if tr := u.br.lastTrip.Load(); tr != nil {
		s.LastTripReason, s.LastTripAt = tr.reason, u.sh.wall(tr.at)
	}
	if e := u.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.msg, u.sh.wall(e.at)
	}
	return s
}
