package handlers

import (
	"time"

	"gateway/internal/metrics"
	"gateway/upstream"
)

// AdminStats is the document served by GET /admin/stats and rendered by
// /admin. docs/admin-stats.md describes every field; the pool snapshot in
// it is the one the Prometheus collector reads too.
type AdminStats struct {
	TakenAt       time.Time `json:"takenAt"`
	StartedAt     time.Time `json:"startedAt"`
	UptimeSeconds float64   `json:"uptimeSeconds"`
	metrics.BuildInfo
	Totals      AdminTotals                  `json:"totals"`
	RetryBudget upstream.RetryBudgetSnapshot `json:"retryBudget"`
	DecisionLog upstream.DecisionLogStats    `json:"decisionLog"`
	Services    []upstream.ServiceSnapshot   `json:"services"`
}

// AdminTotals sums the upstreams of every service.
type AdminTotals struct {
	Requests          int64   `json:"requests"`        // requests sent to upstreams
	Errors            int64   `json:"errors"`          // of which failed (transport error or failure status)
	Inflight          int64   `json:"inflight"`        // requests awaiting an upstream's answer
	Retries           int64   `json:"retries"`         // retries on another upstream
	RequestsPerSecond float64 `json:"rps"`             // over the last 10 s
	Upstreams         int     `json:"upstreams"`       // configured upstreams
	OpenBreakers      int     `json:"openBreakers"`    // upstreams whose breaker is not closed
	WebSocketActive   int64   `json:"activeWebSocket"` // bridged WebSocket connections
	SSEActive         int64   `json:"activeSse"`       // open server-sent event streams
}

// newAdminStats builds the document from one pool snapshot.
func newAdminStats(s upstream.Snapshot, started time.Time, build metrics.BuildInfo) AdminStats {
	st := AdminStats{
		TakenAt:       s.TakenAt,
		StartedAt:     started,
		UptimeSeconds: s.TakenAt.Sub(started).Seconds(),
		BuildInfo:     build,
		RetryBudget:   s.RetryBudget,
		DecisionLog:   s.DecisionLog,
		Services:      s.Services,
	}
	t := &st.Totals
	for _, svc := range s.Services {
		for i := range svc.Upstreams {
			u := &svc.Upstreams[i]
			t.Requests += u.Requests
			t.Errors += u.Failures
			t.Inflight += u.Inflight
			t.Retries += u.Retries
			t.RequestsPerSecond += u.RequestsPerSecond
			t.Upstreams++
			if u.State != upstream.StateClosed {
				t.OpenBreakers++
			}
			t.WebSocketActive += u.ActiveWebSocket
			t.SSEActive += u.ActiveSSE
		}
	}
	return st
}
