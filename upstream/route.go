package upstream

// Trace ties the attempts of one request to its entry in the pool's
// decision log: the first Route records the decision (the candidates
// compared, the one chosen), and a Route after Retry adds the retry to that
// entry. A Trace belongs to one request and lives on its handler's stack;
// the zero Trace routes a request and records nothing.
type Trace struct {
	// RequestID names the entry; it is copied (up to 128 bytes) at the
	// first Route, so it may point into a reused request buffer. Empty
	// records nothing.
	RequestID []byte
	// Stream places a long-lived stream (see PickStream) rather than a
	// request.
	Stream bool

	entry  uint64    // the log entry written by the first Route, 0 for none
	failed *Upstream // set by Retry: the upstream the next Route excludes
	reason string    // why failed's attempt failed
}

// Retry tells the trace that the attempt on failed went wrong for reason
// (a short static text, such as the client's error message): the next
// Route excludes failed and logs the retry with its reason.
func (t *Trace) Retry(failed *Upstream, reason string) { t.failed, t.reason = failed, reason }

// Route is Pick, or PickStream for a stream, for the request t traces,
// recorded in the pool's decision log when the log is on and t has a
// request id. Recording copies a fixed-size value into a ring slot: no
// lock, no allocation (BenchmarkRoute).
func (s *Service) Route(t *Trace) (Lease, error) {
	log := s.sh.decisions
	q := query{exclude: t.failed, now: s.sh.now(), stream: t.Stream, log: log != nil && len(t.RequestID) > 0}
	l, err := s.pick(&q)
	if !q.log {
		return l, err
	}
	if t.entry != 0 && t.failed != nil {
		s.logRetry(log, t, l.u)
	} else {
		t.entry = s.logDecision(log, t, &q, l.u)
	}
	return l, err
}

// logDecision writes the first attempt's decision and returns its entry.
func (s *Service) logDecision(log *decisionLog, t *Trace, q *query, chosen *Upstream) uint64 {
	seq, r := log.claim()
	if r == nil {
		return 0
	}
	r.at, r.service, r.stream, r.chosen = q.now, s.name, t.Stream, chosen
	r.idLen = uint8(copy(r.id[:], t.RequestID))
	r.seen.n = copy(r.seen.cands[:], q.seen.cands[:q.seen.n])
	r.nRetries = 0
	log.commit(seq)
	return seq
}

// logRetry adds a retry to t's entry while it is still in the ring.
func (s *Service) logRetry(log *decisionLog, t *Trace, to *Upstream) {
	r := log.reopen(t.entry)
	if r == nil {
		return
	}
	if int(r.nRetries) < len(r.retries) {
		r.retries[r.nRetries] = retryRecord{from: t.failed, reason: t.reason, to: to}
		r.nRetries++
	}
	log.commit(t.entry)
}
