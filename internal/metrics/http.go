package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ansrivas/fiberprometheus/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// HTTP counts every request the Fiber app answers in the series that
// github.com/ansrivas/fiberprometheus defines: <ns>_<sub>_requests_total and
// <ns>_<sub>_request_duration_seconds by status_code, method and route
// template, <ns>_<sub>_requests_in_progress_total by method. Its Middleware
// records exactly what fiberprometheus's Middleware records (the tests
// compare the two scrapes), but resolves each label set's children once
// and keeps them, where fiberprometheus looks them up in the vectors on
// every request, copying the method and route and formatting the status:
// three allocations and four label hashes per request, which this hot path
// does not pay. The price is that this file follows fiberprometheus's
// Middleware (v2.16.0) by hand; a new version must be checked against it,
// which TestHTTPMatchesFiberPrometheus does.
//
// fiberprometheus keeps its vectors unexported; HTTP obtains them as they
// are registered, through the Registerer it hands to
// fiberprometheus.NewWithRegistry. FiberPrometheus still serves /metrics
// (RegisterAt).
type HTTP struct {
	fp       *fiberprometheus.FiberPrometheus
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec

	routesOnce sync.Once
	routes     map[routeKey]string // registered method and route → the route, normalised

	mu       sync.Mutex                               // serialises writers of series and gauges
	series   atomic.Pointer[map[labelSet]*httpSeries] // copy on write: readers never lock
	inflight atomic.Pointer[map[string]prometheus.Gauge]
}

// routeKey is a method and a route template.
type routeKey struct{ method, path string }

// labelSet is one label set of the request counter and histogram.
type labelSet struct {
	method, path string
	status       int
}

// httpSeries are the children of one label set, resolved once.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// NewHTTP builds the fiberprometheus middleware on reg (namespace and
// subsystem prefix its metric names) and the HTTP over its vectors.
func NewHTTP(reg *prometheus.Registry, namespace, subsystem string) (*HTTP, error) {
	c := &capture{Registry: reg}
	h := &HTTP{fp: fiberprometheus.NewWithRegistry(c, "", namespace, subsystem, nil)}
	h.requests, h.duration, h.inFlight = c.counter, c.histogram, c.gauge
	if c.err != nil {
		return nil, c.err
	}
	if c.counter == nil || c.histogram == nil || c.gauge == nil || c.n != 3 {
		return nil, fmt.Errorf("fiberprometheus registered %d collectors, not its counter, histogram and gauge vectors", c.n)
	}
	empty := map[labelSet]*httpSeries{}
	h.series.Store(&empty)
	gauges := map[string]prometheus.Gauge{}
	h.inflight.Store(&gauges)
	return h, nil
}

// RegisterAt serves the registry's metrics at path on r (fiberprometheus's
// handler, OpenMetrics negotiated).
func (h *HTTP) RegisterAt(r fiber.Router, path string, handlers ...fiber.Handler) {
	h.fp.RegisterAt(r, path, handlers...)
}

// Middleware is the fiber.Handler counting each request after the rest of
// the chain has answered it. Like fiberprometheus's, it skips requests that
// matched no registered route, takes the status of a returned *fiber.Error
// (500 for any other error), and adds the trace id as an exemplar when the
// user context carries a valid span.
func (h *HTTP) Middleware(c *fiber.Ctx) error {
	method := c.Method() // may alias the request buffer: only looked up with, copied before kept
	g := h.gauge(method)
	g.Inc()
	defer g.Dec()
	start := time.Now()
	err := c.Next()

	status := fiber.StatusInternalServerError
	if err == nil {
		status = c.Response().StatusCode()
	} else if e, ok := err.(*fiber.Error); ok {
		status = e.Code
	}
	s := h.lookup(c, method, status)
	if s == nil {
		return err
	}
	s.requests.Inc()
	elapsed := float64(time.Since(start).Nanoseconds()) / 1e9
	if id := trace.SpanContextFromContext(c.UserContext()).TraceID(); id.IsValid() {
		if eo, ok := s.duration.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(elapsed, prometheus.Labels{"traceID": id.String()})
		}
		return err
	}
	s.duration.Observe(elapsed)
	return err
}

// routePath is the path label fiberprometheus gives c's request: the route
// template that answered, or the request path when only the catch-all
// middleware route ("/") matched, without a trailing slash.
func routePath(c *fiber.Ctx) string {
	p := c.Route().Path
	if p == "/" {
		p = c.Path()
	}
	if p != "" && p != "/" {
		p = normalizePath(p)
	}
	return p
}

// normalizePath removes trailing slashes, as fiberprometheus does.
func normalizePath(p string) string {
	if n := strings.TrimRight(p, "/"); n != "" {
		return n
	}
	return "/"
}

// lookup returns the children for c's route, method and status, resolving
// and keeping them on first use; nil when the route is not registered.
func (h *HTTP) lookup(c *fiber.Ctx, method string, status int) *httpSeries {
	path := routePath(c)
	if s := (*h.series.Load())[labelSet{method, path, status}]; s != nil {
		return s
	}
	h.routesOnce.Do(func() { h.routes = registeredRoutes(c.App()) })
	route, ok := h.routes[routeKey{method, path}]
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.series.Load()
	key := labelSet{strings.Clone(method), route, status}
	if s := old[key]; s != nil {
		return s
	}
	code := strconv.Itoa(status)
	s := &httpSeries{
		requests: h.requests.WithLabelValues(code, key.method, route),
		duration: h.duration.WithLabelValues(code, key.method, route),
	}
	next := make(map[labelSet]*httpSeries, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = s
	h.series.Store(&next)
	return s
}

// gauge returns the in-flight gauge of method, resolving and keeping it on
// first use. Methods are bounded: Fiber answers 501 to any it does not know
// before the middleware runs.
func (h *HTTP) gauge(method string) prometheus.Gauge {
	if g := (*h.inflight.Load())[method]; g != nil {
		return g
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.inflight.Load()
	if g := old[method]; g != nil {
		return g
	}
	m := strings.Clone(method)
	g := h.inFlight.WithLabelValues(m)
	next := make(map[string]prometheus.Gauge, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[m] = g
	h.inflight.Store(&next)
	return g
}

// registeredRoutes is the set fiberprometheus builds on its first request:
// every route's method and normalised path.
func registeredRoutes(app *fiber.App) map[routeKey]string {
	routes := make(map[routeKey]string)
	for _, r := range app.GetRoutes(true) {
		p := r.Path
		if p != "" && p != "/" {
			p = normalizePath(p)
		}
		routes[routeKey{r.Method, p}] = p
	}
	return routes
}

// capture is the Registerer handed to fiberprometheus: it registers on the
// embedded registry (which also stays the Gatherer fiberprometheus serves)
// and keeps the vectors it is given.
type capture struct {
	*prometheus.Registry
	counter   *prometheus.CounterVec
	histogram *prometheus.HistogramVec
	gauge     *prometheus.GaugeVec
	n         int
	err       error
}

// Register registers col and keeps it when it is one of the three vectors.
func (c *capture) Register(col prometheus.Collector) error {
	if err := c.Registry.Register(col); err != nil {
		return err
	}
	c.n++
	switch v := col.(type) {
	case *prometheus.CounterVec:
		c.counter = v
	case *prometheus.HistogramVec:
		c.histogram = v
	case *prometheus.GaugeVec:
		c.gauge = v
	}
	return nil
}

// MustRegister is what promauto calls; it records the first failure for
// NewHTTP to return instead of panicking.
func (c *capture) MustRegister(cols ...prometheus.Collector) {
	for _, col := range cols {
		if err := c.Register(col); err != nil && c.err == nil {
			c.err = fmt.Errorf("registering HTTP metrics: %w", err)
		}
	}
}
