package handlers

import (
	"github.com/gofiber/fiber/v2"

	"gateway/upstream"
)

// retry is one request's retry policy, shared by the proxy and the
// WebSocket dialler: at most one retry, on another upstream than the one
// that failed, of a failure classify marks retryable, when the request
// allows it and the pool's retry budget has room (Envoy's retry budget).
// A retry holds the budget until the request settles (end).
type retry struct {
	budget   *upstream.RetryBudget
	tried    *upstream.Upstream // the upstream that failed, excluded from the retry
	first    failure            // its failure: the answer when no other upstream is left
	retrying bool
	stream   bool // the request opens a long-lived stream (SSE, WebSocket)
}

// pick leases an upstream of svc for the next attempt: a stream is placed by
// what upstreams hold open, a request by requests in flight and latency;
// a retry excludes the upstream that failed.
func (r *retry) pick(svc *upstream.Service) (upstream.Lease, error) {
	if r.stream {
		return svc.PickStream(r.tried)
	}
	return svc.Pick(r.tried)
}

// again reports whether the request, which failed with f on u, is retried;
// allowed is the request's own say (an idempotent request without a body).
// A retry is counted on u and recorded for the access log.
func (r *retry) again(c *fiber.Ctx, u *upstream.Upstream, f failure, allowed bool) bool {
	if r.retrying || !f.retryable || !allowed || !r.budget.TryAcquire() {
		return false
	}
	u.CountRetry()
	c.Locals(LocalRetries, 1)
	r.tried, r.first, r.retrying = u, f, true
	return true
}

// count is the number of retries made so far: the resend count of the
// next attempt.
func (r *retry) count() int {
	if r.retrying {
		return 1
	}
	return 0
}

// end gives back the budget a retry held.
func (r *retry) end() {
	if r.retrying {
		r.budget.Release()
	}
}
