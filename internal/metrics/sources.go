package metrics

// Sources are the optional readers of counters kept outside the upstream
// pool. Each is a function so that the app can adapt whatever Stats method a
// component exposes without this package importing it. A nil source is not
// exported: a gateway without a cache has no cache metrics. Sources are
// called on every scrape and must be safe for concurrent use.
type Sources struct {
	WebSocket   func() WebSocketStats // the WebSocket bridge
	RateLimited func() int64          // requests answered 429 by the rate limiter
	Cache       func() CacheStats     // the response cache
	Shed        func() ShedStats      // requests answered 503 by load shedding
	Conns       func() ConnStats      // client connections, by the listener's limiter
	Panics      func() int64          // handler panics recovered and answered 500
	Spans       func() SpanStats      // trace export; nil while spans are not exported
}

// SpanStats are the trace spans lost since start, by why: the export queue
// was full (Dropped), or the collector did not take them (Failed).
type SpanStats struct {
	Dropped int64
	Failed  int64
}

// ConnStats are the client connections the gateway's listener counts:
// open now, and refused since start by the limit that refused them.
type ConnStats struct {
	Open         int64 // accepted and not yet closed, hijacked streams included
	RefusedPerIP int64 // answered 429 over MAX_CONNS_PER_IP
	RefusedTotal int64 // answered 503 over MAX_CONNS
}

// WebSocketStats are the WebSocket bridge's counters since start. Active
// bridges are counted per upstream by the pool, so they are not here.
type WebSocketStats struct {
	MessagesToUpstream int64 // messages relayed from clients to upstreams
	MessagesToClient   int64 // messages relayed from upstreams to clients
	BytesToUpstream    int64 // payload bytes relayed from clients to upstreams
	BytesToClient      int64 // payload bytes relayed from upstreams to clients
	// Closes counts ended bridges by decimal close code (RFC 6455 §7.4;
	// 1006 for a connection lost without a close frame). The source must
	// keep the set of keys bounded, e.g. the registered codes plus "other".
	Closes map[string]int64
}

// ShedStats are the requests load shedding refused since start, by the
// limit that refused them.
type ShedStats struct {
	Inflight int64 // over MAX_INFLIGHT_REQUESTS
	Pressure int64 // over a sampled runtime limit (heap, goroutines, scheduler latency)
}

// CacheStats are the response cache's lookups since start, by result.
type CacheStats struct {
	Hits     int64 // answered from the cache
	Misses   int64 // cacheable, fetched from the upstream
	Bypasses int64 // not cacheable (method, Cache-Control, size), passed through
}
