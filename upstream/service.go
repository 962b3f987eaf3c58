package upstream

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrNoUpstream is returned by Pick when no upstream may take the request:
// every breaker refuses, or none is left after the exclusion. The proxy
// answers 503 with Retry-After.
var ErrNoUpstream = errors.New("no upstream available")

// Service is a named set of upstreams sharing one selection policy. A
// Service belongs to one generation of the pool's table and is immutable;
// Pool.Replace builds new ones.
type Service struct {
	name string
	ups  []*Upstream
	sel  Selector
	peak *PeakEWMA // sel, when it is the built-in policy that takes a query
	sh   *shared
}

func newService(sh *shared, name string, ups []*Upstream, sel Selector) *Service {
	s := &Service{name: name, ups: ups, sel: sel, sh: sh}
	s.peak, _ = sel.(*PeakEWMA)
	return s
}

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Upstreams returns a copy of the service's upstreams, in configured order.
func (s *Service) Upstreams() []*Upstream { return append([]*Upstream(nil), s.ups...) }

// Pick chooses an upstream for one request, skipping exclude (nil for none;
// the proxy passes the first attempt's upstream for its single retry) and
// upstreams whose breaker refuses. It counts the request in flight and
// returns a Lease that must be ended with Done exactly once.
func (s *Service) Pick(exclude *Upstream) (Lease, error) {
	return s.pick(&query{exclude: exclude, now: s.sh.now()})
}

// PickStream is Pick for a long-lived stream (an SSE response, a WebSocket
// bridge): the upstream is chosen by what it holds open rather than by
// requests in flight times latency (see streamScore). The proxy still calls
// StreamOpened once the stream is established.
func (s *Service) PickStream(exclude *Upstream) (Lease, error) {
	return s.pick(&query{exclude: exclude, now: s.sh.now(), stream: true})
}

func (s *Service) pick(q *query) (Lease, error) {
	// A selected upstream can refuse only if its breaker changed after the
	// selection looked at it; it is then unavailable, so the next round
	// skips it. One round per upstream bounds the loop.
	for range len(s.ups) {
		q.seen.n = 0 // a new round compares afresh
		u := s.selectFor(q)
		if u == nil {
			break
		}
		if ticket, ok := u.br.allow(q.now); ok {
			u.inflight.Add(1)
			u.requests.Add(1)
			return Lease{u: u, start: q.now, ticket: ticket}, nil
		}
	}
	return Lease{}, ErrNoUpstream
}

func (s *Service) selectFor(q *query) *Upstream {
	if s.peak != nil {
		return s.peak.pick(s.ups, q)
	}
	return s.sel.Select(s.ups, q.exclude)
}

// Lease is one request's hold on an upstream, from Pick to Done. It is a
// small value: returning and passing it does not allocate. The zero Lease
// has no upstream, and its Done does nothing.
type Lease struct {
	u      *Upstream
	start  int64  // clock reading at Pick
	ticket uint64 // breaker word at admission
}

// Upstream returns the leased upstream (nil for the zero Lease).
func (l Lease) Upstream() *Upstream { return l.u }

// Outcome is how a leased request ended.
type Outcome struct {
	// Status is the upstream's status when a response came back, else 0.
	Status int
	// Err is the transport error (dial, timeout, reset); nil when a
	// response came back.
	Err error
	// Latency, when positive, replaces the time since Pick as the latency
	// sample, e.g. time to first byte for a stream.
	Latency time.Duration
	// Canceled means the client went away: the request counts as neither
	// success nor failure and gives no latency sample.
	Canceled bool
}

// poolFull reports an outcome of ErrPoolFull: the gateway's own connection
// limit, judged like a canceled request, never as the upstream's failure.
func (o *Outcome) poolFull() bool { return o.Err != nil && errors.Is(o.Err, ErrPoolFull) }

// Done ends the lease: Settle(o), then Release. Call it, or Settle and
// then Release, exactly once per lease; copies of a Lease share that call.
func (l Lease) Done(o Outcome) {
	l.Settle(o)
	l.Release()
}

// Settle records how the leased request went — the stats, the latency
// sample for the peak EWMA and the histograms, and the breaker's verdict —
// while the upstream stays leased (in flight) until Release. A stream
// settles once it is established (SSE headers, WebSocket handshake) and
// releases when it ends hours later: its upstream is judged when it
// answers, and a stream that was the half-open breaker's probe does not
// keep every other request away for its whole life.
//
// A failure is a transport error or a status for which FailureStatus is
// true; only failures allocate (the immutable last-error record).
func (l Lease) Settle(o Outcome) {
	u := l.u
	if u == nil {
		return
	}
	now := u.sh.now()
	v := u.sh.verdict(&o)
	switch {
	case v == verdictIgnore && o.poolFull():
		u.poolFull.Add(1)
	case v == verdictIgnore:
		u.canceled.Add(1)
	case v == verdictSuccess:
		u.successes.Add(1)
	default:
		u.failures.Add(1)
		u.lastErr.Store(&errorRecord{msg: describe(&o), at: now})
	}
	if v != verdictIgnore {
		rtt := o.Latency
		if rtt <= 0 {
			rtt = time.Duration(now - l.start)
		}
		u.ewma.observe(now, float64(rtt), u.sh.tau, u.sh.penaltyOf(v, o.Status))
		u.latency.record(now, rtt)
	}
	u.br.record(l.ticket, v, now, &o)
}

// Release ends the lease's hold on its upstream: it no longer counts as in
// flight, and a retired upstream with nothing left in flight lets go of its
// connections.
func (l Lease) Release() {
	u := l.u
	if u == nil {
		return
	}
	if u.inflight.Add(-1) == 0 && u.retired.Load() {
		u.releaseIfIdle()
	}
}

// penaltyOf is the latency penalty of an attempt for the peak EWMA: the
// failure penalty for a failure and for a 429 (the upstream refused the
// work, fast, whether or not the breaker counts it), else 0.
func (sh *shared) penaltyOf(v verdict, status int) float64 {
	if v == verdictFailure || status == fasthttp.StatusTooManyRequests {
		return sh.penalty
	}
	return 0
}

// verdict classifies an outcome for the breaker and the stats.
func (sh *shared) verdict(o *Outcome) verdict {
	switch {
	case o.Canceled, o.poolFull():
		return verdictIgnore
	case o.Err != nil || sh.failureStatus(o.Status):
		return verdictFailure
	}
	return verdictSuccess
}
