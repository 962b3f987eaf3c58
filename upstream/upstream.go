package upstream

import (
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// StreamKind names a kind of long-lived stream counted on an upstream.
type StreamKind int

// The stream kinds the proxy reports.
const (
	SSE       StreamKind = iota // a server-sent events response
	WebSocket                   // a bridged WebSocket connection
)

// String returns "sse" or "websocket".
func (k StreamKind) String() string {
	switch k {
	case SSE:
		return "sse"
	case WebSocket:
		return "websocket"
	}
	return "stream(" + strconv.Itoa(int(k)) + ")"
}

// Upstream is one base URL of one service, with its keep-alive clients,
// circuit breaker, latency estimate and counters. Its identity survives
// Pool.Replace as long as its service keeps its URL, so pointers to it stay
// valid and its counters keep counting.
//
// Counters are atomics, so an Upstream must not be copied (go vet's
// copylocks check enforces it).
type Upstream struct {
	sh           *shared
	service      string
	base         string
	url          *url.URL
	basePath     string
	client       *fasthttp.HostClient
	streamClient *fasthttp.HostClient

	inflight  atomic.Int64
	requests  atomic.Int64 // leases handed out
	successes atomic.Int64
	failures  atomic.Int64
	canceled  atomic.Int64
	poolFull  atomic.Int64 // refused by the pool wait (ErrPoolFull)
	retries   atomic.Int64
	sse       atomic.Int64
	ws        atomic.Int64
	retired   atomic.Bool
	lastErr   atomic.Pointer[errorRecord]
	discards  discardCounters // connections closed instead of reused

	ewma    peakEWMA
	latency latencyRecorder
	br      breaker
	health  health
	svc     atomic.Pointer[Service] // the current generation's service, for peer costs
}

// errorRecord is an immutable record of an upstream's latest failure.
type errorRecord struct {
	msg string
	at  int64 // clock reading
}

// newUpstream builds the upstream of service at the parsed base URL.
func newUpstream(sh *shared, service string, base *url.URL) *Upstream {
	u := &Upstream{
		sh:       sh,
		service:  service,
		base:     base.String(),
		url:      base,
		basePath: base.EscapedPath(),
	}
	u.client, u.streamClient = newClients(sh, base, &u.discards)
	u.ewma.init()
	u.br.init(sh, u.stateChanged)
	if sh.hc.on && sh.hc.probe == nil {
		u.health.client = newProbeClient(u)
	}
	return u
}

// stateChanged forwards a breaker transition to Options.OnStateChange. A
// breaker closing after its probe succeeded readmits u (see readmit).
func (u *Upstream) stateChanged(from, to State, reason string) {
	if to == StateClosed {
		u.readmit(u.sh.now())
	}
	if u.sh.onStateChange != nil {
		u.sh.onStateChange(u, from, to, reason)
	}
}

// URL returns the parsed base URL. Callers must not modify it.
func (u *Upstream) URL() *url.URL { return u.url }

// String returns the base URL, such as "http://10.0.0.7:8080/v1".
func (u *Upstream) String() string { return u.base }

// Service returns the name of the service this upstream belongs to.
func (u *Upstream) Service() string { return u.service }

// BasePath returns the escaped path prefix of the base URL without trailing
// slash ("" when none); the proxy prepends it to the forwarded path.
func (u *Upstream) BasePath() string { return u.basePath }

// Client returns the keep-alive client for ordinary requests. ProxyTimeout
// bounds the wait for a connection and for the response headers, and then
// each silence while a body flows either way (see idleConn), never the
// length of a transfer.
func (u *Upstream) Client() *fasthttp.HostClient { return u.client }

// StreamClient returns a second keep-alive client to the same address for
// long-lived streams such as SSE: no read timeout, so the caller bounds
// time-to-first-byte and idle gaps itself.
func (u *Upstream) StreamClient() *fasthttp.HostClient { return u.streamClient }

// Available reports whether u may take a new request now: its breaker would
// admit one and no active health check holds it out of rotation. Custom
// Selectors use it to skip upstreams.
func (u *Upstream) Available() bool { return !u.health.down.Load() && u.br.available(u.sh.now()) }

// State returns the breaker's state.
func (u *Upstream) State() State { return u.br.state() }

// Inflight returns the number of leases not yet done.
func (u *Upstream) Inflight() int64 { return u.inflight.Load() }

// Latency returns the peak-EWMA latency decayed to now (0 before any sample).
func (u *Upstream) Latency() time.Duration {
	cost, _ := u.ewma.at(u.sh.now(), u.sh.tau)
	return time.Duration(cost)
}

// CountRetry counts a retry the proxy made to this upstream.
func (u *Upstream) CountRetry() { u.retries.Add(1) }

// StreamOpened counts an active stream of kind, for stats.
func (u *Upstream) StreamOpened(kind StreamKind) {
	if c := u.streams(kind); c != nil {
		c.Add(1)
	}
}

// StreamClosed ends a stream counted by StreamOpened. On a retired upstream
// the last stream to close lets the idle connections go.
func (u *Upstream) StreamClosed(kind StreamKind) {
	if c := u.streams(kind); c != nil && c.Add(-1) == 0 && u.retired.Load() {
		u.releaseIfIdle()
	}
}

func (u *Upstream) streams(kind StreamKind) *atomic.Int64 {
	switch kind {
	case SSE:
		return &u.sse
	case WebSocket:
		return &u.ws
	}
	return nil
}

// retire marks an upstream removed from the pool. Its idle connections are
// closed once no lease and no stream is left; connections in use are never
// cut.
func (u *Upstream) retire() {
	u.retired.Store(true) // before the check, pairs with the Add(-1) in Done
	if u.health.stop != nil {
		u.health.stop()
	}
	u.releaseIfIdle()
}

// releaseIfIdle closes a retired upstream's idle keep-alive connections when
// nothing uses it any more. Racing callers may both close; that is harmless.
func (u *Upstream) releaseIfIdle() {
	if u.inflight.Load() != 0 || u.sse.Load() != 0 || u.ws.Load() != 0 {
		return
	}
	u.client.CloseIdleConnections()
	u.streamClient.CloseIdleConnections()
}
