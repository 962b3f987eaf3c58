package upstream

// pendingRequests returns u's requests in flight, not counting its open streams:
// a stream holds its lease, and so counts in inflight, for its whole life,
// but an idle stream open for hours is no request waiting for an answer.
// The three counters are read one by one, so the difference can be briefly
// off by a stream opening or closing; it is clamped at 0.
func (u *Upstream) pendingRequests() int64 {
	return max(u.inflight.Load()-u.sse.Load()-u.ws.Load(), 0)
}

// score is a request's cost on u: the peak-EWMA cost decayed to now times
// (requests in flight + 1), open streams not counted.
func (u *Upstream) score(now int64) float64 {
	load := float64(u.pendingRequests() + 1)
	cost, sampled := u.ewma.at(now, u.sh.tau)
	if !sampled {
		if load == 1 {
			return 0
		}
		cost = unsampledPenalty
	}
	return cost * load
}

// streamScore is a new stream's cost on u: what u holds open (streams and
// requests) + 1, times its peak-EWMA cost but no less than the stream
// floor. Streams live for minutes or hours, so what loads an upstream is
// how many it holds, not how fast it answered their first byte: below the
// floor (1% of the failure penalty) latency does not count and streams are
// spread by count, least-connections style. An upstream that fails, whose
// cost the failure penalty drives up towards the penalty, or one far slower
// than the floor, gets proportionally fewer.
func (u *Upstream) streamScore(now int64) float64 {
	cost, _ := u.ewma.at(now, u.sh.tau)
	return float64(max(u.inflight.Load(), 0)+1) * max(cost, u.sh.streamFloor)
}
