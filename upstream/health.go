package upstream

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults of the active health check, applied by New to zero fields of
// HealthCheck. They match the gateway's documented environment defaults.
const (
	DefaultHealthInterval  = 5 * time.Second
	DefaultHealthTimeout   = time.Second
	DefaultHealthThreshold = 2 // both the unhealthy and the healthy threshold
)

// HealthCheck configures active health checks: every upstream's base URL
// plus Path is fetched with GET on its own schedule, Interval apart with
// ±10% jitter so that the probes of many upstreams (and of many gateways)
// do not synchronize. A probe passes on a 2xx or 3xx answer within Timeout;
// any other status, a transport error or a timeout fails it.
// UnhealthyThreshold consecutive failures take the upstream out of
// rotation (no new requests or streams; open streams are left alone),
// HealthyThreshold consecutive passes bring it back, through slow start
// when SlowStart is set. These are Envoy's health-checking semantics
// (unhealthy_threshold, healthy_threshold, interval_jitter).
//
// The zero value (an empty Path) turns health checks off.
type HealthCheck struct {
	Path               string        // absolute path, query allowed; "" = off
	Interval           time.Duration // 0 means DefaultHealthInterval
	Timeout            time.Duration // 0 means DefaultHealthTimeout
	UnhealthyThreshold int           // 0 means DefaultHealthThreshold
	HealthyThreshold   int           // 0 means DefaultHealthThreshold

	// Probe, when set, replaces the HTTP GET: it returns the status the
	// upstream answered, or the error that kept it from answering. Tests
	// script upstream health with it.
	Probe func(u *Upstream) (status int, err error)
}

// healthConfig is HealthCheck after defaults, held by shared.
type healthConfig struct {
	on                 bool
	path               string
	interval, timeout  time.Duration
	unhealthy, healthy int
	probe              func(u *Upstream) (int, error)
}

func newHealthConfig(hc HealthCheck) healthConfig {
	return healthConfig{
		on:        hc.Path != "",
		path:      hc.Path,
		interval:  orDuration(hc.Interval, DefaultHealthInterval),
		timeout:   orDuration(hc.Timeout, DefaultHealthTimeout),
		unhealthy: orInt(hc.UnhealthyThreshold, DefaultHealthThreshold),
		healthy:   orInt(hc.HealthyThreshold, DefaultHealthThreshold),
		probe:     hc.Probe,
	}
}

// Health is an upstream's health as active checks see it.
type Health uint8

// The health states; HealthUnchecked when health checks are off.
const (
	HealthUnchecked Health = iota
	HealthHealthy
	HealthUnhealthy
)

// String returns "unchecked", "healthy" or "unhealthy".
func (h Health) String() string {
	switch h {
	case HealthUnchecked:
		return "unchecked"
	case HealthHealthy:
		return "healthy"
	case HealthUnhealthy:
		return "unhealthy"
	}
	return "health(" + strconv.Itoa(int(h)) + ")"
}

// MarshalText makes Health appear by name in JSON snapshots.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// health is one upstream's active-check state. down is read on every
// selection; the rest is written only by the upstream's prober goroutine.
type health struct {
	down   atomic.Bool                 // out of rotation until healthy passes in a row
	last   atomic.Pointer[probeRecord] // the latest probe, nil before the first
	passed atomic.Int64                // probes passed, for /metrics
	failed atomic.Int64                // probes failed, for /metrics

	stop   context.CancelFunc   // ends the prober; set before it starts, under Pool.mu
	client *fasthttp.HostClient // the probes' own connections; nil with a custom Probe
	streak int                  // consecutive results against the current state; prober only
}

// probeRecord is an immutable record of one probe.
type probeRecord struct {
	at      int64 // clock reading when the probe ended
	latency time.Duration
	status  int
	err     string
	ok      bool
}

// ProbeSnapshot is the latest health probe of an upstream, for stats.
type ProbeSnapshot struct {
	At        time.Time `json:"at"`
	OK        bool      `json:"ok"`
	Status    int       `json:"status"` // 0 when no answer came back
	Error     string    `json:"error,omitempty"`
	LatencyMs float64   `json:"latencyMs"`
}

// probeLoop probes u until ctx ends: the first probe after a random part
// of one interval (spreading the probes of upstreams started together),
// then every interval ±10%.
func (u *Upstream) probeLoop(ctx context.Context) {
	hc := &u.sh.hc
	wait := time.Duration(u.sh.rand.IntN(int(hc.interval)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.sh.after(wait):
		}
		if ctx.Err() != nil {
			return
		}
		u.probeOnce()
		wait = hc.interval*9/10 + time.Duration(u.sh.rand.IntN(int(hc.interval/5)+1))
	}
}

// probeOnce runs one probe and applies its result to u's health.
func (u *Upstream) probeOnce() {
	start := u.sh.now()
	status, err := u.probe()
	end := u.sh.now()
	rec := &probeRecord{at: end, latency: time.Duration(end - start), status: status}
	switch {
	case err != nil:
		rec.err = err.Error()
	case status < 200 || status > 399:
		rec.err = "status " + strconv.Itoa(status)
	default:
		rec.ok = true
	}
	u.health.last.Store(rec)
	if rec.ok {
		u.health.passed.Add(1)
	} else {
		u.health.failed.Add(1)
	}
	u.applyProbe(rec, end)
}

// applyProbe counts a probe result towards the threshold that would change
// u's state and changes it when reached.
func (u *Upstream) applyProbe(rec *probeRecord, now int64) {
	h, hc := &u.health, &u.sh.hc
	down := h.down.Load()
	if rec.ok != down { // a pass while healthy, a failure while unhealthy
		h.streak = 0
		return
	}
	h.streak++
	switch {
	case !down && h.streak >= hc.unhealthy:
		h.streak = 0
		h.down.Store(true)
		u.healthChanged(false, strconv.Itoa(hc.unhealthy)+" failed health checks; last: "+rec.err)
	case down && h.streak >= hc.healthy:
		h.streak = 0
		u.readmit(now)
		h.down.Store(false)
		u.healthChanged(true, strconv.Itoa(hc.healthy)+" passed health checks")
	}
}

// healthChanged forwards a health transition to Options.OnHealthChange.
func (u *Upstream) healthChanged(healthy bool, reason string) {
	if u.sh.onHealthChange != nil {
		u.sh.onHealthChange(u, healthy, reason)
	}
}

// probe fetches base URL + path with GET on the probe client, within the
// timeout, reading the whole answer so the connection can be reused.
func (u *Upstream) probe() (int, error) {
	hc := &u.sh.hc
	if hc.probe != nil {
		return hc.probe(u)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(u.base + hc.path)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.SetUserAgent("gateway-health-check")
	if err := u.health.client.DoTimeout(req, resp, hc.timeout); err != nil {
		return 0, err
	}
	return resp.StatusCode(), nil
}

// newProbeClient returns the HostClient of u's probes: apart from the
// traffic's pool, so a probe neither waits behind MaxConns busy
// connections nor counts in their stats, and whole bodies are read.
func newProbeClient(u *Upstream) *fasthttp.HostClient {
	c := newHostClient(u.sh, u.url)
	c.MaxConns = 1
	c.StreamResponseBody = false
	c.ReadTimeout = u.sh.hc.timeout
	c.WriteTimeout = u.sh.hc.timeout
	return c
}

// healthOf returns u's health state.
func (u *Upstream) healthOf() Health {
	switch {
	case !u.sh.hc.on:
		return HealthUnchecked
	case u.health.down.Load():
		return HealthUnhealthy
	}
	return HealthHealthy
}

// Health returns u's health as active checks see it.
func (u *Upstream) Health() Health { return u.healthOf() }

// lastProbe returns the latest probe for a snapshot, nil before any.
func (u *Upstream) lastProbe() *ProbeSnapshot {
	r := u.health.last.Load()
	if r == nil {
		return nil
	}
	return &ProbeSnapshot{
		At: u.sh.wall(r.at), OK: r.ok, Status: r.status, Error: r.err,
		LatencyMs: float64(r.latency) / float64(time.Millisecond),
	}
}
