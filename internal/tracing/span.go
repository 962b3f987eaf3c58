package tracing

import (
	"context"
	"net"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"gateway/internal/tracecontext"
)

// Span is one exported span of a request. A nil *Span, which a nil
// *Tracer returns (export off) and so does a sampler that drops the trace,
// does nothing: every method checks for nil in a wrapper small enough to
// be inlined, so a call costs a compare and no SDK call. End a Span once,
// from one goroutine.
type Span struct {
	span trace.Span
	t    *Tracer
	m    method
	kind trace.SpanKind
}

// Recording reports whether s is exported: export on and sampled.
func (s *Span) Recording() bool { return s != nil }

// StartServer starts the server span of one request, with tc's ids: its
// trace id, tc.Parent as the remote parent when the caller sent one, and
// tc.Span as its own id, the parent-id the upstream receives when no client
// span comes between. It sets tc.Flags to the sampler's decision, so that
// the upstream hears it. Attributes follow the HTTP server semantic
// conventions: http.request.method, url.path, url.scheme, http.route (the
// route template, "/api/:service/*"), client.address (the client as the
// gateway determined it, trusted proxies considered; left out when
// invalid) and user_agent.original. With export off it returns nil and
// leaves tc alone; unsampled, it returns nil.
func (t *Tracer) StartServer(tc *tracecontext.Context, req *fasthttp.Request, route string, client netip.Addr) *Span {
	if t == nil {
		return nil
	}
	return t.startServer(tc, req, route, client)
}

// startServer is StartServer with export on.
func (t *Tracer) startServer(tc *tracecontext.Context, req *fasthttp.Request, route string, client netip.Addr) *Span {
	m := newMethod(req.Header.Method())
	attrs := append(make([]attribute.KeyValue, 0, len(m.attrs)+5), m.attrs...)
	attrs = append(attrs,
		semconv.URLPath(string(req.URI().Path())),
		semconv.URLScheme(string(req.URI().Scheme())),
		semconv.HTTPRoute(route),
		semconv.UserAgentOriginal(string(req.Header.UserAgent())),
	)
	if client.IsValid() {
		attrs = append(attrs, semconv.ClientAddress(client.Unmap().String()))
	}
	return t.startRoot(tc, m.name+" "+route, m, trace.SpanKindServer, attrs)
}

// StartInternal starts a root span, with tc's ids, for work the gateway
// does on its own: the cache's background refresh, under which the
// refresh's upstream attempt gets its client span. It sets tc.Flags like
// StartServer, and returns nil likewise.
func (t *Tracer) StartInternal(tc *tracecontext.Context, name string) *Span {
	if t == nil {
		return nil
	}
	return t.startRoot(tc, name, method{}, trace.SpanKindInternal, nil)
}

// startRoot starts the gateway's top span of a trace context.
func (t *Tracer) startRoot(tc *tracecontext.Context, name string, m method, kind trace.SpanKind, attrs []attribute.KeyValue) *Span {
	ctx := withIDs(context.Background(), tc)
	if tc.Remote {
		ctx = trace.ContextWithRemoteSpanContext(ctx, remoteParent(tc))
	}
	_, span := t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		tc.Flags &^= tracecontext.FlagSampled
		return nil // a non-recording SDK span needs no End
	}
	tc.Flags |= tracecontext.FlagSampled
	return &Span{span: span, t: t, m: m, kind: kind}
}

// remoteParent is the caller's span as the SDK's span context.
func remoteParent(tc *tracecontext.Context) trace.SpanContext {
	cfg := trace.SpanContextConfig{
		TraceID:    trace.TraceID(tc.TraceID),
		SpanID:     trace.SpanID(tc.Parent),
		TraceFlags: trace.TraceFlags(tc.Flags),
		Remote:     true,
	}
	if len(tc.State) > 0 {
		if ts, err := trace.ParseTraceState(string(tc.State)); err == nil {
			cfg.TraceState = ts
		}
	}
	return trace.NewSpanContext(cfg)
}

// Attempt describes one upstream attempt for its client span.
type Attempt struct {
	Method string // http.request.method of the upstream request; "" = the server span's
	Host   string // server.address: the upstream's host as configured
	Port   int    // server.port
	Retry  int    // http.request.resend_count: 0 for the first attempt (then not recorded)
}

// StartClient starts the client span of one upstream attempt under s and
// returns it with the trace context to write into that attempt's request
// (tracecontext's Inject or InjectNew): tc's trace, with the client span's
// id as the upstream's parent. A nil s returns nil and tc itself, so the
// upstream sees the gateway's span as its parent, and allocates nothing.
// Attributes follow the HTTP client semantic conventions: server.address,
// server.port, http.request.method, http.request.resend_count.
func (s *Span) StartClient(tc *tracecontext.Context, a Attempt) (*Span, tracecontext.Context) {
	if s == nil {
		return nil, *tc
	}
	return s.startClient(tc, a)
}

// startClient is StartClient of a span being exported.
func (s *Span) startClient(tc *tracecontext.Context, a Attempt) (*Span, tracecontext.Context) {
	m := s.m
	if a.Method != "" {
		m = newMethod([]byte(a.Method))
	}
	child := tc.Child()
	ctx := withIDs(trace.ContextWithSpan(context.Background(), s.span), &child)
	attrs := append(make([]attribute.KeyValue, 0, len(m.attrs)+3), m.attrs...)
	attrs = append(attrs, semconv.ServerAddress(a.Host), semconv.ServerPort(a.Port))
	if a.Retry > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(a.Retry))
	}
	_, span := s.t.tracer.Start(ctx, m.name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return &Span{span: span, t: s.t, m: m, kind: trace.SpanKindClient}, child
}

// SetPeer records network.peer.address and network.peer.port: where the
// attempt's connection went (fasthttp's Response.RemoteAddr, the upstream
// WebSocket's RemoteAddr), once known. It takes the net.Addr, not its
// text, so that a caller with export off formats nothing.
func (s *Span) SetPeer(addr net.Addr) {
	if s != nil && addr != nil {
		s.setPeer(addr)
	}
}

// setPeer is SetPeer of a span being exported.
func (s *Span) setPeer(addr net.Addr) {
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		s.span.SetAttributes(semconv.NetworkPeerAddress(ap.Addr().Unmap().String()), semconv.NetworkPeerPort(int(ap.Port())))
		return
	}
	s.span.SetAttributes(semconv.NetworkPeerAddress(addr.String()))
}

// RecordError marks s failed with the gateway's error message, the one
// its JSON error body carries ("upstream timeout"): the span's status
// description, error.type (the messages are a fixed set, so of bounded
// cardinality, as error.type must be) and an exception event. End keeps
// them.
func (s *Span) RecordError(msg string) {
	if s != nil {
		s.recordError(msg)
	}
}

// recordError is RecordError of a span being exported.
func (s *Span) recordError(msg string) {
	s.span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(semconv.ExceptionMessage(msg)))
	s.span.SetAttributes(semconv.ErrorTypeKey.String(msg))
	s.span.SetStatus(codes.Error, msg)
}

// End records the response status (http.response.status_code; 0 when none
// was received) and ends s. Per the HTTP semantic conventions ("Status") a
// 5xx marks a server span failed, a 4xx or 5xx a client span, with the
// code as error.type, unless RecordError already said why.
func (s *Span) End(status int) {
	if s != nil {
		s.end(status)
	}
}

// end is End of a span being exported.
func (s *Span) end(status int) {
	if status > 0 {
		s.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if (status >= 500 || (s.kind == trace.SpanKindClient && status >= 400)) && !s.failed() {
			s.span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
			s.span.SetStatus(codes.Error, "")
		}
	}
	s.span.End()
}

// failed reports whether RecordError set s's status.
func (s *Span) failed() bool {
	ro, ok := s.span.(sdktrace.ReadOnlySpan)
	return ok && ro.Status().Code == codes.Error
}
