package upstream

import (
	"time"
)

// Decision is one routing decision read back from the decision log, for
// GET /admin/decisions/{requestId}: which upstreams were compared for the
// request, what each looked like at that moment, which one won, and any
// retry. Lower scores win.
type Decision struct {
	RequestID string    `json:"requestId"`
	Service   string    `json:"service"`
	Time      time.Time `json:"time"`
	// Kind is "request" (scored by requests in flight × latency) or
	// "stream" (scored by what each upstream holds open).
	Kind string `json:"kind"`
	// Chosen is the first attempt's upstream; "" when none could take the
	// request (every candidate skipped).
	Chosen     string          `json:"chosen"`
	Retries    []RetryDecision `json:"retries"`
	Candidates []Candidate     `json:"candidates"`
}

// Candidate is one upstream as the selection saw it.
type Candidate struct {
	Upstream string `json:"upstream"`
	// Score is the cost the selection compared, in milliseconds: the
	// peak-EWMA latency times (requests in flight + 1) for a request,
	// max(latency, stream floor) times (everything open + 1) for a stream;
	// 0 for a skipped candidate.
	Score      float64 `json:"score"`
	EWMAMillis float64 `json:"ewmaMs"`
	Inflight   int64   `json:"inflight"`
	Streams    int64   `json:"streams"`
	Breaker    State   `json:"breaker"`
	// Skipped is why the candidate was not compared ("breaker open",
	// "excluded: the attempt that failed"); empty when it was.
	Skipped string `json:"skipped,omitempty"`
}

// RetryDecision is a retry of the request: the upstream whose attempt
// failed, why, and the upstream the retry went to ("" when none was left).
type RetryDecision struct {
	Upstream  string `json:"upstream"`
	Reason    string `json:"reason"`
	RetriedOn string `json:"retriedOn"`
}

// DecisionLogStats describes the decision log for /admin/stats.
type DecisionLogStats struct {
	Size     int   `json:"size"`     // entries kept; 0 when the log is off
	Recorded int64 `json:"recorded"` // decisions logged since start
	Dropped  int64 `json:"dropped"`  // decisions not logged because their slot was being read
}

// Decision returns the newest logged decision of the request id, and
// whether one is still in the ring.
func (p *Pool) Decision(requestID string) (Decision, bool) {
	l := p.sh.decisions
	if l == nil || requestID == "" || len(requestID) > maxIDLen {
		return Decision{}, false
	}
	var r record
	newest := l.next.Load()
	for i := uint64(0); i < uint64(len(l.slots)) && i < newest; i++ {
		seq := newest - i
		if l.slotOf(seq).readIf(seq, requestID, &r) {
			return r.decision(p.sh), true
		}
	}
	return Decision{}, false
}

// Decisions returns up to limit of the newest logged decisions, newest
// first.
func (p *Pool) Decisions(limit int) []Decision {
	l := p.sh.decisions
	if l == nil || limit <= 0 {
		return nil
	}
	out := make([]Decision, 0, min(limit, len(l.slots)))
	var r record
	newest := l.next.Load()
	for i := uint64(0); i < uint64(len(l.slots)) && i < newest && len(out) < limit; i++ {
		seq := newest - i
		if l.slotOf(seq).readIf(seq, "", &r) {
			out = append(out, r.decision(p.sh))
		}
	}
	return out
}

// DecisionLogStats returns the log's size and counters.
func (p *Pool) DecisionLogStats() DecisionLogStats {
	l := p.sh.decisions
	if l == nil {
		return DecisionLogStats{}
	}
	return DecisionLogStats{Size: len(l.slots), Recorded: int64(l.next.Load()) - l.dropped.Load(), Dropped: l.dropped.Load()}
}

// readIf copies the slot's record into dst when the slot holds entry seq,
// is not owned, and (when id is not empty) the entry is the request id's.
func (s *slot) readIf(seq uint64, id string, dst *record) bool {
	if !s.state.CompareAndSwap(seq<<1, seq<<1|busy) {
		return false
	}
	ok := id == "" || string(s.rec.id[:s.rec.idLen]) == id
	if ok {
		*dst = s.rec
	}
	s.state.Store(seq << 1)
	return ok
}

// decision converts a record to its exported form.
func (r *record) decision(sh *shared) Decision {
	d := Decision{
		RequestID:  string(r.id[:r.idLen]),
		Service:    r.service,
		Time:       sh.wall(r.at),
		Kind:       "request",
		Chosen:     nameOf(r.chosen),
		Retries:    make([]RetryDecision, 0, r.nRetries),
		Candidates: make([]Candidate, 0, r.seen.n),
	}
	if r.stream {
		d.Kind = "stream"
	}
	for _, rt := range r.retries[:r.nRetries] {
		d.Retries = append(d.Retries, RetryDecision{Upstream: nameOf(rt.from), Reason: rt.reason, RetriedOn: nameOf(rt.to)})
	}
	for _, c := range r.seen.cands[:r.seen.n] {
		raw := peakEWMA{}
		raw.cost.Store(c.cost)
		raw.stamp.Store(c.stamp)
		cost, _ := raw.at(r.at, sh.tau)
		d.Candidates = append(d.Candidates, Candidate{
			Upstream:   c.u.base,
			Score:      c.score / float64(time.Millisecond),
			EWMAMillis: cost / float64(time.Millisecond),
			Inflight:   c.inflight,
			Streams:    c.streams,
			Breaker:    c.state,
			Skipped:    c.skip.String(),
		})
	}
	return d
}

// nameOf is u's base URL, or "" for nil.
func nameOf(u *Upstream) string {
	if u == nil {
		return ""
	}
	return u.base
}
