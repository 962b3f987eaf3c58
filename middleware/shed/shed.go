package shed

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"gateway/config"
	"gateway/internal/apierror"
)

// msgOverloaded is the error of a shed request.
const msgOverloaded = "gateway overloaded"

// Shedder is the load shedding of issue 5, the Go counterpart of
// @fastify/under-pressure: over any configured limit, proxy routes answer
// 503 with Retry-After at once, before any upstream work, and Overloaded
// (for /readyz) reports true. Limits, each off when 0:
//
//   - MAX_INFLIGHT_REQUESTS, counted by Handler itself on every request it
//     admits, from admission until the rest of the chain returns;
//   - MAX_HEAP_BYTES, MAX_GOROUTINES and MAX_SCHED_LATENCY_MS, read from
//     runtime/metrics every PRESSURE_SAMPLE_MS by the sampler that Start runs.
//
// Build one with New, Start it, and Close it on shutdown. A Shedder
// must not be copied.
type Shedder struct {
	maxInflight     int64
	maxHeap         uint64
	maxGoroutines   uint64
	maxSchedLatency time.Duration
	interval        time.Duration
	retryAfter      int
	read            func() Readings

	inflight     atomic.Int64
	streams      atomic.Int64
	heap         atomic.Uint64
	goroutines   atomic.Uint64
	schedP99     atomic.Int64 // nanoseconds
	sampledAt    atomic.Int64 // unix nanoseconds of the last sample, 0 before any
	sampledOver  atomic.Bool  // a sampled reading is over its limit
	shedInflight atomic.Uint64
	shedPressure atomic.Uint64

	mu     sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}
}

// Readings is one sample of the runtime readings the Shedder limits.
type Readings struct {
	HeapBytes       uint64        // /memory/classes/heap/objects:bytes: live and not yet swept heap objects
	Goroutines      uint64        // /sched/goroutines:goroutines
	SchedLatencyP99 time.Duration // p99 of /sched/latencies:seconds since the previous sample
}

// Stats is a snapshot of the Shedder's counters and readings, for the
// metrics engineer.
type Stats struct {
	Shed         uint64 // requests answered 503 (total; only grows)
	ShedInflight uint64 // of which over MAX_INFLIGHT_REQUESTS
	ShedPressure uint64 // of which over a sampled limit
	Inflight     int64  // requests admitted by Handler and not finished
	Streams      int64  // streams admitted by StreamHandler and open
	Overloaded   bool
	Readings
}

// Option configures a Shedder beyond what config.Config holds.
type Option func(*Shedder)

// WithReader replaces the runtime/metrics sampler, so tests can
// feed readings. It is called from the sampler goroutine only.
func WithReader(read func() Readings) Option {
	return func(s *Shedder) { s.read = read }
}

// New returns the load shedder configured by cfg's MAX_* and
// PRESSURE_SAMPLE_MS fields. Retry-After is the sample interval rounded
// up to a second: readings cannot change sooner.
func New(cfg *config.Config, opts ...Option) (*Shedder, error) {
	if cfg.MaxInflightRequests < 0 || cfg.MaxGoroutines < 0 || cfg.MaxSchedLatency < 0 {
		return nil, errors.New("shedder: limits must not be negative")
	}
	s := &Shedder{
		maxInflight:     int64(cfg.MaxInflightRequests),
		maxHeap:         cfg.MaxHeapBytes,
		maxGoroutines:   uint64(cfg.MaxGoroutines),
		maxSchedLatency: cfg.MaxSchedLatency,
		interval:        cfg.PressureSample,
	}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	s.retryAfter = max(int((s.interval+time.Second-1)/time.Second), 1)
	s.read = newRuntimeSampler().read
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Handler returns the middleware for request routes (/api, /admin): it
// sheds when a sampled limit is over or when admitting the request would
// exceed MAX_INFLIGHT_REQUESTS, and otherwise counts the request in flight
// until the rest of the chain returns. It does not allocate.
func (s *Shedder) Handler() fiber.Handler { return s.handle }

// StreamHandler returns the middleware for /sse and /ws. A stream may stay
// open for hours while costing little, so streams do not count toward
// MAX_INFLIGHT_REQUESTS (a few thousand idle SSE clients would otherwise
// shed every API request); a new stream is refused whenever Overloaded is
// true. Streams still weigh on the sampled limits through their goroutines
// and buffers, and are counted apart for /_pressure.
func (s *Shedder) StreamHandler() fiber.Handler { return s.handleStream }

// handle is Handler's fiber.Handler.
func (s *Shedder) handle(c *fiber.Ctx) error {
	if s.sampledOver.Load() {
		return s.shed(c, &s.shedPressure)
	}
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if s.maxInflight > 0 && n > s.maxInflight {
		return s.shed(c, &s.shedInflight)
	}
	return c.Next()
}

// handleStream is StreamHandler's fiber.Handler.
func (s *Shedder) handleStream(c *fiber.Ctx) error {
	if s.sampledOver.Load() {
		return s.shed(c, &s.shedPressure)
	}
	if s.inflightFull() {
		return s.shed(c, &s.shedInflight)
	}
	s.streams.Add(1)
	defer s.streams.Add(-1)
	return c.Next()
}

// shed answers 503 with Retry-After and counts it.
func (s *Shedder) shed(c *fiber.Ctx, counter *atomic.Uint64) error {
	counter.Add(1)
	return apierror.WriteRetry(c, fiber.StatusServiceUnavailable, msgOverloaded, s.retryAfter)
}

// inflightFull reports whether the next request would be shed for
// MAX_INFLIGHT_REQUESTS.
func (s *Shedder) inflightFull() bool {
	return s.maxInflight > 0 && s.inflight.Load() >= s.maxInflight
}

// Overloaded reports whether the gateway is over a limit: a sampled reading
// over its limit, or as many requests in flight as MAX_INFLIGHT_REQUESTS
// allows. /readyz answers 503 while it is true, so load balancers send
// traffic elsewhere before requests have to be shed.
func (s *Shedder) Overloaded() bool { return s.sampledOver.Load() || s.inflightFull() }

// Stats returns a snapshot of the counters and the last readings.
func (s *Shedder) Stats() Stats {
	inflight, pressure := s.shedInflight.Load(), s.shedPressure.Load()
	return Stats{
		Shed: inflight + pressure, ShedInflight: inflight, ShedPressure: pressure,
		Inflight: s.inflight.Load(), Streams: s.streams.Load(), Overloaded: s.Overloaded(),
		Readings: s.readings(),
	}
}

// readings returns the last sample.
func (s *Shedder) readings() Readings {
	return Readings{
		HeapBytes:       s.heap.Load(),
		Goroutines:      s.goroutines.Load(),
		SchedLatencyP99: time.Duration(s.schedP99.Load()),
	}
}

// Start runs the sampler until ctx ends or Close is called: one sample at
// once, then one every PRESSURE_SAMPLE_MS. It runs at most once per
// Shedder: later calls do nothing.
func (s *Shedder) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	s.sample(time.Now())
	go s.run(ctx, s.done)
}

// run is the sampler goroutine.
func (s *Shedder) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.sample(now)
		}
	}
}

// Close stops the sampler and waits for it. It is safe to call before
// Start and more than once; the last readings stay in place.
func (s *Shedder) Close() error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

// sample takes one reading and publishes it.
func (s *Shedder) sample(now time.Time) {
	r := s.read()
	s.heap.Store(r.HeapBytes)
	s.goroutines.Store(r.Goroutines)
	s.schedP99.Store(int64(r.SchedLatencyP99))
	s.sampledAt.Store(now.UnixNano())
	s.sampledOver.Store(s.overHeap(r.HeapBytes) || s.overGoroutines(r.Goroutines) || s.overSchedLatency(r.SchedLatencyP99))
}

// overHeap, overGoroutines and overSchedLatency compare a reading with
// its limit; a limit of 0 is off.
func (s *Shedder) overHeap(v uint64) bool       { return s.maxHeap > 0 && v > s.maxHeap }
func (s *Shedder) overGoroutines(v uint64) bool { return s.maxGoroutines > 0 && v > s.maxGoroutines }
func (s *Shedder) overSchedLatency(v time.Duration) bool {
	return s.maxSchedLatency > 0 && v > s.maxSchedLatency
}
