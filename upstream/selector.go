package upstream

import "math"

// Selector chooses one upstream of a service for a request, in the manner of
// Caddy's reverse-proxy selection policies: one small interface, one type per
// policy. It must skip exclude and every upstream whose Available is false,
// return nil when none is left, and be safe for concurrent use. A Selector
// must not allocate if the hot path is to stay allocation-free.
type Selector interface {
	Select(ups []*Upstream, exclude *Upstream) *Upstream
}

// query is what one selection is asked: Pick's clock reading (saving one
// clock read per request), whether a stream or a request is placed. The
// built-in PeakEWMA takes it whole, called directly so that the query stays
// on Pick's stack; other Selectors only see the exclusion.
type query struct {
	exclude *Upstream // the failed attempt's upstream on a retry, or nil
	now     int64     // clock reading
	stream  bool      // place a long-lived stream rather than a request
	log     bool      // collect the candidates in seen for the decision log
	// seen is held by value: a pointer to the caller's array would escape
	// (the query's pointers flow to a custom Selector), costing an
	// allocation per request.
	seen seen
}

// eligible reports whether u may be selected for q: not excluded, not held
// out by a health check, breaker admitting.
func (q *query) eligible(u *Upstream) bool { return q.skipOf(u) == skipNone }

// skipOf returns why u may not be selected for q, or skipNone.
func (q *query) skipOf(u *Upstream) skip {
	switch {
	case u == q.exclude:
		return skipExcluded
	case u.health.down.Load():
		return skipUnhealthy
	case !u.br.available(q.now):
		return skipBreaker
	}
	return skipNone
}

// note records u as compared (with its score) or skipped for the decision
// log, when it is on.
func (q *query) note(u *Upstream, score float64, why skip) {
	if q.log {
		q.seen.add(u, score, why)
	}
}

// score is u's cost for q, the lower the better. An upstream whose breaker
// is not closed but admits (eligible, so its half-open probe is free)
// scores 0: the probe must go out for the breaker to learn that u healed,
// and the failure penalty in its cost would otherwise keep every scan from
// choosing it until that decayed, a minute or more.
func (q *query) score(u *Upstream) float64 {
	if u.br.state() != StateClosed {
		return 0
	}
	if q.stream {
		return u.streamScore(q.now)
	}
	return u.score(q.now)
}

var _ Selector = (*PeakEWMA)(nil)

// unsampledPenalty is the cost of an upstream that has requests in flight but
// no latency sample yet, so a burst does not pile onto a new upstream before
// its first response tells us how fast it is. It is Finagle's value
// (Long.MaxValue >> 16 ns, about 39 hours).
const unsampledPenalty = float64(math.MaxInt64 >> 16)

// streamFloorDivisor sets the stream floor, the latency below which new
// streams are spread by count alone: the failure penalty divided by it (300ms
// with the default 30s proxy timeout).
const streamFloorDivisor = 100

// PeakEWMA is the default policy: the score of an upstream for a request is
// its peak-EWMA latency decayed to now times (requests in flight + 1), the
// lower the better (Finagle, Linkerd; Traefik's leasttime is the same idea
// with a plain average); for a stream it is what the upstream holds open
// (see streamScore). An
// upstream with neither samples nor requests in flight scores 0 so it gets
// tried. With more than three upstreams it compares two distinct random ones
// (power of two choices, which avoids herding onto a single best upstream
// when scores are stale); with three or fewer it scans them all. Ties are
// broken uniformly at random, never towards the first index.
//
// The zero value uses math/rand/v2; the clock is the one of the upstreams'
// pool.
type PeakEWMA struct {
	Rand Rand // nil means math/rand/v2's global source
}

// Select returns the best available upstream other than exclude, or nil.
func (p *PeakEWMA) Select(ups []*Upstream, exclude *Upstream) *Upstream {
	if len(ups) == 0 {
		return nil
	}
	return p.pick(ups, &query{exclude: exclude, now: ups[0].sh.now()})
}

func (p *PeakEWMA) pick(ups []*Upstream, q *query) *Upstream {
	n := len(ups)
	if n <= 3 {
		return p.scan(ups, q)
	}
	a, b := p.twoOf(n)
	if ua, ub := ups[a], ups[b]; q.eligible(ua) && q.eligible(ub) {
		return p.better(ua, ub, q)
	}
	return p.amongEligible(ups, q)
}

// amongEligible runs power-of-two-choices over the eligible upstreams only,
// without building a filtered slice: the common case never gets here.
func (p *PeakEWMA) amongEligible(ups []*Upstream, q *query) *Upstream {
	m := 0
	for _, u := range ups {
		if q.eligible(u) {
			m++
		}
	}
	if m <= 3 {
		return p.scan(ups, q)
	}
	ra, rb := p.twoOf(m)
	var ua, ub *Upstream
	rank := 0
	for _, u := range ups {
		if !q.eligible(u) {
			continue
		}
		switch rank {
		case ra:
			ua = u
		case rb:
			ub = u
		}
		rank++
	}
	if ua == nil || ub == nil { // availability changed between the two passes
		return p.scan(ups, q)
	}
	return p.better(ua, ub, q)
}

// scan returns the eligible upstream with the lowest score; among k tied
// upstreams each wins with probability 1/k (reservoir sampling).
func (p *PeakEWMA) scan(ups []*Upstream, q *query) *Upstream {
	var best *Upstream
	bestScore, ties := 0.0, 0
	for _, u := range ups {
		if why := q.skipOf(u); why != skipNone {
			q.note(u, 0, why)
			continue
		}
		s := q.score(u)
		q.note(u, s, skipNone)
		switch {
		case best == nil || s < bestScore:
			best, bestScore, ties = u, s, 1
		case s == bestScore:
			ties++
			if p.intN(ties) == 0 {
				best = u
			}
		}
	}
	return best
}

// better returns the lower-scoring of a and b. On a tie it returns a, which
// is unbiased because a was drawn uniformly at random.
func (p *PeakEWMA) better(a, b *Upstream, q *query) *Upstream {
	sa, sb := q.score(a), q.score(b)
	q.note(a, sa, skipNone)
	q.note(b, sb, skipNone)
	if sb < sa {
		return b
	}
	return a
}

// twoOf returns two distinct uniformly random indices below n (n >= 2).
func (p *PeakEWMA) twoOf(n int) (int, int) {
	a := p.intN(n)
	b := p.intN(n - 1)
	if b >= a {
		b++
	}
	return a, b
}

func (p *PeakEWMA) intN(n int) int {
	if p.Rand == nil {
		return globalRand{}.IntN(n)
	}
	return p.Rand.IntN(n)
}
