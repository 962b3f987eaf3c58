package handlers

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"gateway/internal/tracecontext"
	"gateway/upstream"
)

// errUnknownService is Fetch's answer for a service not in the pool.
var errUnknownService = errors.New("unknown service")

// Fetch sends a GET for pathQuery ("/" + rest, raw query included) to an
// upstream of service, with header's end-to-end fields, and reads the
// answer into resp. It serves background work that has no client request,
// such as the cache's stale-while-revalidate refresh, and goes through the
// same selection, breaker and timeout as the proxy.
//
// The traceparent in header (the gateway's span of the request that asked
// for the work, see middleware.Trace) is continued under a span id of the
// fetch's own: the work joins the trace of the request that caused it.
// A header without a valid one starts a fresh trace.
func (p *Proxy) Fetch(service, pathQuery string, header *fasthttp.RequestHeader, resp *fasthttp.Response) error {
	svc := p.pool.Service(service)
	if svc == nil {
		return fmt.Errorf("fetching %s: %w", service, errUnknownService)
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	header.CopyTo(&req.Header)
	removeRequestHops(&req.Header)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.SetContentLength(0)
	tc := tracecontext.FromRequest(&req.Header)
	tc.Inject(&req.Header)
	lease, err := svc.Pick(nil)
	if err != nil {
		return fmt.Errorf("fetching %s%s: %w", service, pathQuery, err)
	}
	u := lease.Upstream()
	req.SetRequestURI(u.String() + pathQuery)
	err = u.Client().DoTimeout(req, resp, p.timeout)
	if err != nil {
		lease.Done(upstream.Outcome{Err: err})
		return fmt.Errorf("fetching %s%s from %s: %w", service, pathQuery, u, err)
	}
	lease.Done(upstream.Outcome{Status: resp.StatusCode()})
	removeResponseHops(&resp.Header)
	return nil
}
