// Package metrics exports the gateway's own statistics to Prometheus. Its
// Collector reads the upstream pool's Snapshot on each scrape, the same
// snapshot /admin/stats serves, so nothing is counted twice and the request
// path pays only for the pool's atomic counters. Counters kept elsewhere
// (WebSocket, rate limit, cache, load shedding, client connections) come
// in through Sources.
//
// Every metric is prefixed gateway_. Labels are bounded by configuration:
// service and upstream (the configured base URL), outcome, direction, cache
// result, WebSocket close code; never a request id or a path.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gateway/upstream"
)

// Snapshotter is what the Collector needs of the pool; *upstream.Pool
// satisfies it, and tests pass a fixed snapshot.
type Snapshotter interface {
	Snapshot() upstream.Snapshot
}

// LatencyBuckets are the upper bounds of the exported latency histogram.
// Each is a bucket bound of upstream.LatencyHistogram, so the exported
// counts are exact.
func LatencyBuckets() []time.Duration {
	ms := time.Millisecond
	return []time.Duration{
		ms / 2, ms, 5 * ms / 2, 5 * ms, 10 * ms, 25 * ms, 50 * ms, 100 * ms, 250 * ms, 500 * ms,
		time.Second, 5 * time.Second / 2, 5 * time.Second, 10 * time.Second, 30 * time.Second, 60 * time.Second,
	}
}

// Collector is a prometheus.Collector over a pool snapshot, build info and
// optional Sources. It keeps no state between scrapes.
type Collector struct {
	pool    Snapshotter
	build   BuildInfo
	sources Sources
	buckets []time.Duration
	d       descs
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector reading pool, labelling gateway_build_info
// with build, and reading the non-nil sources.
func NewCollector(pool Snapshotter, build BuildInfo, sources Sources) *Collector {
	return &Collector{pool: pool, build: build, sources: sources, buckets: LatencyBuckets(), d: newDescs()}
}

// Describe sends every metric's description, including those of sources
// that are nil (describing more than is collected is allowed).
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect takes one pool snapshot and sends its metrics, then those of the
// sources.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := &c.d
	gauge(ch, d.build, 1, c.build.Version, c.build.Commit, c.build.GoVersion)
	s := c.pool.Snapshot()
	gauge(ch, d.budgetActive, float64(s.RetryBudget.Active))
	gauge(ch, d.budgetLimit, float64(s.RetryBudget.Limit))
	for _, svc := range s.Services {
		for i := range svc.Upstreams {
			c.collectUpstream(ch, &svc.Upstreams[i])
		}
	}
	c.collectSources(ch)
}

// collectUpstream sends the metrics of one upstream.
func (c *Collector) collectUpstream(ch chan<- prometheus.Metric, u *upstream.UpstreamSnapshot) {
	d := &c.d
	svc, url := u.Service, u.URL
	counter(ch, d.requests, float64(u.Successes), svc, url, "success")
	counter(ch, d.requests, float64(u.Failures), svc, url, "failure")
	counter(ch, d.requests, float64(u.Canceled), svc, url, "canceled")
	counter(ch, d.requests, float64(u.PoolFull), svc, url, "pool_full")
	gauge(ch, d.inflight, float64(u.Inflight), svc, url)
	gauge(ch, d.ewma, u.EWMA.Seconds(), svc, url)
	gauge(ch, d.state, float64(u.State), svc, url)
	counter(ch, d.trips, float64(u.Trips), svc, url)
	counter(ch, d.retries, float64(u.Retries), svc, url)
	gauge(ch, d.sse, float64(u.ActiveSSE), svc, url)
	gauge(ch, d.ws, float64(u.ActiveWebSocket), svc, url)
	cd := &u.ConnsDiscarded
	counter(ch, d.connsDiscarded, float64(cd.UnreadBytes), svc, url, upstream.DiscardUnreadBytes.String())
	counter(ch, d.connsDiscarded, float64(cd.IdleBytes), svc, url, upstream.DiscardIdleBytes.String())
	counter(ch, d.connsDiscarded, float64(cd.IdleClosed), svc, url, upstream.DiscardIdleClosed.String())
	if u.Health != upstream.HealthUnchecked {
		healthy := 0.0
		if u.Health == upstream.HealthHealthy {
			healthy = 1
		}
		gauge(ch, d.healthy, healthy, svc, url)
		counter(ch, d.probes, float64(u.ProbesPassed), svc, url, "pass")
		counter(ch, d.probes, float64(u.ProbesFailed), svc, url, "fail")
	}

	h := &u.Latency
	cumulative := make(map[float64]uint64, len(c.buckets))
	for _, le := range c.buckets {
		cumulative[le.Seconds()] = h.CountAtMost(le)
	}
	m, err := prometheus.NewConstHistogram(d.latency, h.Count(), h.Sum.Seconds(), cumulative, svc, url)
	send(ch, d.latency, m, err)
}

// collectSources sends the metrics of the non-nil sources.
func (c *Collector) collectSources(ch chan<- prometheus.Metric) {
	d, src := &c.d, c.sources
	if src.WebSocket != nil {
		ws := src.WebSocket()
		counter(ch, d.wsMessages, float64(ws.MessagesToUpstream), "to_upstream")
		counter(ch, d.wsMessages, float64(ws.MessagesToClient), "to_client")
		counter(ch, d.wsBytes, float64(ws.BytesToUpstream), "to_upstream")
		counter(ch, d.wsBytes, float64(ws.BytesToClient), "to_client")
		for code, n := range ws.Closes {
			counter(ch, d.wsCloses, float64(n), code)
		}
	}
	if src.RateLimited != nil {
		counter(ch, d.rateLimited, float64(src.RateLimited()))
	}
	if src.Cache != nil {
		cs := src.Cache()
		counter(ch, d.cache, float64(cs.Hits), "hit")
		counter(ch, d.cache, float64(cs.Misses), "miss")
		counter(ch, d.cache, float64(cs.Bypasses), "bypass")
	}
	if src.Shed != nil {
		sh := src.Shed()
		counter(ch, d.shed, float64(sh.Inflight), "inflight")
		counter(ch, d.shed, float64(sh.Pressure), "pressure")
	}
	if src.Conns != nil {
		cs := src.Conns()
		gauge(ch, d.connsOpen, float64(cs.Open))
		counter(ch, d.connsRefused, float64(cs.RefusedPerIP), "per_ip")
		counter(ch, d.connsRefused, float64(cs.RefusedTotal), "total")
	}
	if src.Spans != nil {
		ss := src.Spans()
		counter(ch, d.spansLost, float64(ss.Dropped), "dropped")
		counter(ch, d.spansLost, float64(ss.Failed), "failed")
	}
	if src.Panics != nil {
		counter(ch, d.panics, float64(src.Panics()))
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	send(ch, d, m, err)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, v, labels...)
	send(ch, d, m, err)
}

// send passes m on, or an invalid metric that makes the scrape report err
// rather than panicking as the Must* constructors would.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, m prometheus.Metric, err error) {
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
