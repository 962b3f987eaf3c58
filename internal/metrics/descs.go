package metrics

import "github.com/prometheus/client_golang/prometheus"

// descs are the Collector's metric descriptions, built once per Collector.
type descs struct {
	build                     *prometheus.Desc
	budgetActive, budgetLimit *prometheus.Desc

	requests, inflight, latency, ewma *prometheus.Desc
	state, trips, retries             *prometheus.Desc
	sse, ws                           *prometheus.Desc
	connsDiscarded                    *prometheus.Desc
	healthy, probes                   *prometheus.Desc

	wsMessages, wsBytes, wsCloses *prometheus.Desc
	rateLimited, cache, shed      *prometheus.Desc
	connsOpen, connsRefused       *prometheus.Desc
	spansLost                     *prometheus.Desc
	panics                        *prometheus.Desc
}

func newDescs() descs {
	up := []string{"service", "upstream"}
	upstreamDesc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("gateway_"+name, help, append(up[:2:2], extra...), nil)
	}
	plain := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("gateway_"+name, help, labels, nil)
	}
	return descs{
		build: plain("build_info", "Always 1; the labels identify the running binary.", "version", "commit", "goversion"),
		budgetActive: plain("retry_budget_active",
			"Retries in flight across the pool."),
		budgetLimit: plain("retry_budget_limit",
			"Current cap on retries in flight: max(3, 20% of requests in flight)."),

		requests: upstreamDesc("upstream_requests_total",
			"Requests sent to an upstream, by outcome: success, failure (transport error or failure status), canceled (client went away) or pool_full (no connection free within UPSTREAM_POOL_WAIT_MS; not the upstream's failure).",
			"outcome"),
		inflight: upstreamDesc("upstream_requests_in_flight",
			"Requests sent to an upstream and not yet answered."),
		latency: upstreamDesc("upstream_request_duration_seconds",
			"Upstream latency of completed requests (time to first byte for streams), canceled requests excluded."),
		ewma: upstreamDesc("upstream_peak_ewma_seconds",
			"Peak-EWMA latency estimate used for load balancing (score = this × (in-flight + 1))."),
		state: upstreamDesc("upstream_breaker_state",
			"Circuit breaker state: 0 closed, 1 half-open, 2 open."),
		trips: upstreamDesc("upstream_breaker_trips_total",
			"Times the upstream's circuit breaker opened."),
		retries: upstreamDesc("upstream_retries_total",
			"Retries the proxy made to this upstream after another one failed."),
		sse: upstreamDesc("sse_streams_active",
			"Server-sent event streams open to the upstream."),
		ws: upstreamDesc("websocket_bridges_active",
			"WebSocket connections bridged to the upstream."),
		connsDiscarded: upstreamDesc("upstream_conns_discarded_total",
			"Keep-alive connections to the upstream closed instead of reused, by reason: unread_bytes (bytes past a response's end), idle_bytes (bytes waiting on an idle connection), idle_closed (the upstream closed it while idle).",
			"reason"),
		healthy: upstreamDesc("upstream_healthy",
			"Active health check verdict: 1 healthy, 0 unhealthy (out of rotation). Only exported when HEALTH_CHECK_PATH is set."),
		probes: upstreamDesc("upstream_health_probes_total",
			"Active health probes sent to the upstream, by result (pass, fail). Probes are not counted as requests.",
			"result"),

		wsMessages: plain("websocket_messages_total",
			"WebSocket messages relayed, by direction (to_upstream, to_client).", "direction"),
		wsBytes: plain("websocket_bytes_total",
			"WebSocket payload bytes relayed, by direction (to_upstream, to_client).", "direction"),
		wsCloses: plain("websocket_closes_total",
			"WebSocket bridges ended, by close code (\"other\" for unregistered codes).", "code"),
		rateLimited: plain("rate_limited_total",
			"Requests refused with 429 by the rate limiter."),
		cache: plain("cache_requests_total",
			"Response cache lookups, by result (hit, miss, bypass).", "result"),
		shed: plain("load_shed_total",
			"Requests refused with 503 by load shedding, by reason (inflight, pressure).", "reason"),
		connsOpen: plain("client_connections_open",
			"Client connections accepted and not yet closed, SSE streams and WebSocket bridges included."),
		connsRefused: plain("client_connections_refused_total",
			"Client connections refused at accept, by limit: per_ip (429, MAX_CONNS_PER_IP) or total (503, MAX_CONNS).", "limit"),
		spansLost: plain("trace_spans_lost_total",
			"Trace spans not exported, by reason: dropped (the export queue was full) or failed (the collector refused them, was unreachable, or shutdown ran out of time).", "reason"),
		panics: plain("panics_total",
			"Handler panics recovered and answered 500 (each logged at error with its request id and stack)."),
	}
}

// all returns every description.
func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.build, d.budgetActive, d.budgetLimit,
		d.requests, d.inflight, d.latency, d.ewma, d.state, d.trips, d.retries, d.sse, d.ws, d.connsDiscarded,
		d.healthy, d.probes,
		d.wsMessages, d.wsBytes, d.wsCloses, d.rateLimited, d.cache, d.shed,
		d.connsOpen, d.connsRefused, d.spansLost, d.panics,
	}
}
