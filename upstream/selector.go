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

// timedSelector is implemented by selectors that can reuse the clock reading
// Pick already took, saving one clock read per request.
type timedSelector interface {
	selectAt(ups []*Upstream, exclude *Upstream, now int64) *Upstream
}

var (
	_ Selector      = (*PeakEWMA)(nil)
	_ timedSelector = (*PeakEWMA)(nil)
)

// unsampledPenalty is the cost of an upstream that has requests in flight but
// no latency sample yet, so a burst does not pile onto a new upstream before
// its first response tells us how fast it is. It is Finagle's value
// (Long.MaxValue >> 16 ns, about 39 hours).
const unsampledPenalty = float64(math.MaxInt64 >> 16)

// PeakEWMA is the default policy: the score of an upstream is its peak-EWMA
// latency decayed to now times (inflight+1), the lower the better (Finagle,
// Linkerd; Traefik's leasttime is the same idea with a plain average). An
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
	return p.selectAt(ups, exclude, ups[0].sh.now())
}

func (p *PeakEWMA) selectAt(ups []*Upstream, exclude *Upstream, now int64) *Upstream {
	n := len(ups)
	if n <= 3 {
		return p.scan(ups, exclude, now)
	}
	a, b := p.twoOf(n)
	if ua, ub := ups[a], ups[b]; eligible(ua, exclude, now) && eligible(ub, exclude, now) {
		return p.better(ua, ub, now)
	}
	return p.amongEligible(ups, exclude, now)
}

// amongEligible runs power-of-two-choices over the eligible upstreams only,
// without building a filtered slice: the common case never gets here.
func (p *PeakEWMA) amongEligible(ups []*Upstream, exclude *Upstream, now int64) *Upstream {
	m := 0
	for _, u := range ups {
		if eligible(u, exclude, now) {
			m++
		}
	}
	if m <= 3 {
		return p.scan(ups, exclude, now)
	}
	ra, rb := p.twoOf(m)
	var ua, ub *Upstream
	rank := 0
	for _, u := range ups {
		if !eligible(u, exclude, now) {
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
		return p.scan(ups, exclude, now)
	}
	return p.better(ua, ub, now)
}

// scan returns the eligible upstream with the lowest score; among k tied
// upstreams each wins with probability 1/k (reservoir sampling).
func (p *PeakEWMA) scan(ups []*Upstream, exclude *Upstream, now int64) *Upstream {
	var best *Upstream
	bestScore, ties := 0.0, 0
	for _, u := range ups {
		if !eligible(u, exclude, now) {
			continue
		}
		s := u.score(now)
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
func (p *PeakEWMA) better(a, b *Upstream, now int64) *Upstream {
	if b.score(now) < a.score(now) {
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

// eligible reports whether u may be selected: not excluded, breaker admitting.
func eligible(u, exclude *Upstream, now int64) bool {
	return u != exclude && u.br.available(now)
}

// score is the peak-EWMA cost decayed to now times (inflight+1).
func (u *Upstream) score(now int64) float64 {
	load := float64(max(u.inflight.Load(), 0) + 1)
	cost, sampled := u.ewma.at(now, u.sh.tau)
	if !sampled {
		if load == 1 {
			return 0
		}
		cost = unsampledPenalty
	}
	return cost * load
}
