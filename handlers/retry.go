package handlers

import (
	"github.com/gofiber/fiber/v2"

	"gateway/internal/apierror"
	"gateway/upstream"
)

// retry is one request's retry policy, shared by the proxy and the
// WebSocket dialler: at most one retry, on another upstream than the one
// that failed, of a failure classify marks retryable, when the request
// allows it and the pool's retry budget has room (Envoy's retry budget).
// A retry holds the budget until the request settles (end). Its trace
// records each pick, and the retry's reason, in the pool's decision log.
type retry struct {
	budget   *upstream.RetryBudget
	trace    upstream.Trace // the request's id and kind; excludes the failed upstream on the retry
	first    failure        // the failed attempt's answer when no other upstream is left
	retrying bool
}

// newRetry returns the retry policy of the request in c, a long-lived
// stream (SSE, WebSocket) when stream is set.
func newRetry(c *fiber.Ctx, budget *upstream.RetryBudget, stream bool) retry {
	id := c.Context().Request.Header.Peek(apierror.HeaderRequestID)
	return retry{budget: budget, trace: upstream.Trace{RequestID: id, Stream: stream}}
}

// pick leases an upstream of svc for the next attempt: a stream is placed by
// what upstreams hold open, a request by requests in flight and latency;
// a retry excludes the upstream that failed.
func (r *retry) pick(svc *upstream.Service) (upstream.Lease, error) { return svc.Route(&r.trace) }

// again reports whether the request, which failed with f on u, is retried;
// allowed is the request's own say (an idempotent request without a body).
// A retry is counted on u and recorded for the access log.
func (r *retry) again(c *fiber.Ctx, u *upstream.Upstream, f failure, allowed bool) bool {
	if r.retrying || !f.retryable || !allowed || !r.budget.TryAcquire() {
		return false
	}
	u.CountRetry()
	c.Locals(LocalRetries, 1)
	r.trace.Retry(u, f.msg)
	r.first, r.retrying = f, true
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
