package handlers

import (
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"

	"gateway/internal/tracing"
	"gateway/middleware"
	"gateway/upstream"
)

// startAttempt starts the client span of one attempt on u under the
// request's server span and writes its traceparent into h, so that the
// upstream names that span as its parent. It returns nil, and leaves h
// alone, with export off or the trace unsampled: h then already carries
// the gateway's traceparent, copied from the client's request.
func startAttempt(rt *middleware.RequestTrace, h *fasthttp.RequestHeader, u *upstream.Upstream, retry int) *tracing.Span {
	if rt == nil || rt.Span == nil {
		return nil
	}
	host, port := hostPort(u.URL())
	span, tc := rt.Span.StartClient(&rt.Context, tracing.Attempt{Host: host, Port: port, Retry: retry})
	tc.Inject(h)
	return span
}

// endAttempt ends an attempt's client span: the upstream's status and
// address when it answered, else the gateway's error message.
func endAttempt(span *tracing.Span, resp *fasthttp.Response, f failure, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(f.msg)
		span.End(0)
		return
	}
	span.SetPeer(resp.RemoteAddr())
	span.End(resp.StatusCode())
}

// hostPort is server.address and server.port of an upstream URL, the port
// defaulted by scheme (RFC 9110 §4.2).
func hostPort(u *url.URL) (string, int) {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return u.Hostname(), p
	}
	if u.Scheme == "https" || u.Scheme == "wss" {
		return u.Hostname(), 443
	}
	return u.Hostname(), 80
}
