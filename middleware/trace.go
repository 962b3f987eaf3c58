package middleware

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/internal/apierror"
	"gateway/internal/tracecontext"
	"gateway/internal/tracing"
)

// LocalTrace is the Locals key of a request's *RequestTrace. It is set
// only while spans are exported: with export off the request's header is
// the whole trace context (see Trace.Context).
const LocalTrace = "gateway.trace"

// RequestTrace is one request's trace while spans are exported: its trace
// context as the gateway received and continued it, and its server span
// (nil until Trace.Server starts it, and when the sampler drops the trace).
type RequestTrace struct {
	Context tracecontext.Context
	Span    *tracing.Span
}

// TraceOf returns the request's trace, or nil with export off.
func TraceOf(c *fiber.Ctx) *RequestTrace {
	rt, _ := c.Locals(LocalTrace).(*RequestTrace)
	return rt
}

// Trace carries W3C Trace Context (https://www.w3.org/TR/trace-context/)
// through the gateway and, with export on, starts the server span of each
// proxied request. A nil tracer is export off.
type Trace struct {
	tracer  *tracing.Tracer
	trusted []netip.Prefix
}

// NewTrace returns the trace middleware; trusted are the proxies whose
// X-Forwarded-For names the client (client.address).
func NewTrace(t *tracing.Tracer, trusted []netip.Prefix) *Trace {
	return &Trace{tracer: t, trusted: trusted}
}

// Context returns the middleware, always on, that gives every request its
// trace context: a valid incoming traceparent keeps its trace id, a missing
// or invalid one starts a fresh trace, and either way the gateway's span
// gets a fresh id. The request's traceparent is then rewritten to name the
// gateway's span as parent (tracestate kept, or cut or dropped as Trace
// Context asks; see tracecontext.Start), the way RequestID rewrites
// x-request-id: every handler that forwards the client's headers (the
// proxy, SSE, the WebSocket handshake, the cache's background refresh)
// forwards the gateway's traceparent with them, and the access log reads
// the trace id there. With export off it allocates nothing.
func (t *Trace) Context() fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := &c.Context().Request.Header
		tc := continueTrace(h)
		if t.tracer.Enabled() {
			rt := &RequestTrace{Context: tc}
			// Inject may have rewritten tracestate: alias the header's value
			// as it is now.
			rt.Context.State = h.Peek(tracecontext.HeaderState)
			c.Locals(LocalTrace, rt)
		}
		return c.Next()
	}
}

// continueTrace returns the trace context of the request whose header is
// h and rewrites h's traceparent (and tracestate, when it must change) to
// continue it: the whole per-request cost with export off.
func continueTrace(h *fasthttp.RequestHeader) tracecontext.Context {
	tc := tracecontext.FromRequest(h)
	tc.Inject(h)
	return tc
}

// Server returns the handler, first on a proxied route (route is its
// template, "/api/:service/*"), that wraps the rest of the route in the
// request's server span; nil with export off, where it is not installed.
// The span ends when the handler chain returns: for SSE and WebSocket,
// once the handshake is answered. The sampler's decision goes into the
// traceparent the upstream receives. A gateway error answer of 5xx is
// recorded with the message its JSON body carries; a 4xx leaves the span's
// status unset, as the HTTP semantic conventions ask of server spans.
func (t *Trace) Server(route string) fiber.Handler {
	if !t.tracer.Enabled() {
		return nil
	}
	return func(c *fiber.Ctx) error {
		rt := TraceOf(c)
		if rt == nil {
			return c.Next()
		}
		req := &c.Context().Request
		rt.Span = t.tracer.StartServer(&rt.Context, req, route, ClientIP(c, t.trusted))
		rt.Context.Inject(&req.Header) // the sampled flag, as the sampler decided
		err := c.Next()
		if err != nil {
			// Let Fiber's error handler write the answer, so the span has
			// the status the client sees (as AccessLog does).
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		endServer(rt.Span, c.Response())
		return err
	}
}

// endServer ends the server span with the response's status, recording
// the gateway's error message of a 5xx it answered itself.
func endServer(s *tracing.Span, resp *fasthttp.Response) {
	status := resp.StatusCode()
	if status >= fiber.StatusInternalServerError && !resp.IsBodyStream() {
		if msg, ok := apierror.Message(resp.Body()); ok {
			s.RecordError(msg)
		}
	}
	s.End(status)
}

// TraceID returns the request's trace id in hex, as the Context middleware
// left it in the request's traceparent, or nil before it ran. It aliases
// the header (valid until the handler returns).
func TraceID(c *fiber.Ctx) []byte {
	v := c.Context().Request.Header.Peek(tracecontext.HeaderParent)
	if len(v) < 35 {
		return nil
	}
	return v[3:35]
}
