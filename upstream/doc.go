// Package upstream owns the gateway's shared pool of upstream servers: their
// fasthttp keep-alive clients, load-aware selection (peak EWMA with
// power-of-two-choices), one circuit breaker per upstream, a pool-wide retry
// budget, and the statistics snapshots read by the admin page and the
// Prometheus collector.
//
// The package imports the standard library and fasthttp's client only, never
// Fiber or the gateway's config package: the app converts its configuration
// into Options. That keeps the pool testable without a server and reusable by
// benchmarks.
//
// The request path is Pick, then Lease.Done:
//
//	lease, err := svc.Pick(nil)
//	if err != nil { /* 503 */ }
//	err = lease.Upstream().Client().Do(req, resp)
//	lease.Done(upstream.Outcome{Status: resp.StatusCode(), Err: err})
//
// In the steady state (every breaker closed) Pick and Done take no lock and
// allocate nothing; BenchmarkPickDone checks it.
package upstream
