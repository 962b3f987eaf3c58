package tracing

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"gateway/internal/tracecontext"
)

// Attribute and event names of the gateway's own (not in the semantic
// conventions): how a stream ended and how much passed through it.
const (
	EventStreamEnd       = "stream.end"
	AttrStreamDuration   = "gateway.stream.duration" // seconds, as semantic-convention durations
	AttrStreamEndReason  = "gateway.stream.end_reason"
	AttrStreamMessages   = "gateway.stream.messages" // WebSocket messages or SSE events
	AttrUpstreamAttempts = "http.request.resend_count"
)

// Span is one span of a request. The zero Span, which a nil *Tracer
// returns, does nothing: every method checks that first and makes no SDK
// call. A Span is a small value; pass it, do not share it between
// goroutines that end it.
type Span struct {
	span   trace.Span
	method string
	server bool
}

// Recording reports whether s will be exported (export on and sampled).
func (s Span) Recording() bool { return s.span != nil && s.span.IsRecording() }

// StartServer starts the server span of one request, with tc's ids: its
// trace id, tc.Parent as the remote parent when the caller sent one, and
// tc.Span as its own id (the parent-id the upstream will receive). It sets
// tc.Flags to the sampler's decision, so the upstream hears it. Attributes
// follow the HTTP server semantic conventions (http.request.method,
// url.path, http.route, client.address, user_agent.original); route is
// the route template ("/api/:service/*") and client the client address as
// the gateway determined it (trusted proxies considered).
func (t *Tracer) StartServer(tc *tracecontext.Context, req *fasthttp.Request, route string, client netip.Addr) Span {
	if t == nil {
		return Span{}
	}
	method := string(req.Header.Method())
	ctx := withIDs(context.Background(), tc)
	if tc.Remote {
		ctx = trace.ContextWithRemoteSpanContext(ctx, remoteParent(tc))
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLPath(string(req.URI().Path())),
		semconv.HTTPRoute(route),
		semconv.UserAgentOriginal(string(req.Header.UserAgent())),
	}
	if client.IsValid() {
		attrs = append(attrs, semconv.ClientAddress(client.String()))
	}
	_, span := t.tracer.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	if span.SpanContext().IsSampled() {
		tc.Flags |= tracecontext.FlagSampled
	} else {
		tc.Flags &^= tracecontext.FlagSampled
	}
	return Span{span: span, method: method, server: true}
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
	Host  string // server.address: the upstream's host as configured
	Port  int    // server.port
	Retry int    // http.request.resend_count: 0 for the first attempt
}

// StartClient starts the client span of one upstream attempt under s and
// returns it with the trace context to inject into that attempt's request
// (its Span is the client span's id). With export off it returns the zero
// Span and tc itself, so the upstream sees the gateway's span as parent.
func (s Span) StartClient(tc *tracecontext.Context, a Attempt) (Span, tracecontext.Context) {
	if s.span == nil {
		return Span{}, *tc
	}
	child := tc.Child()
	ctx := withIDs(trace.ContextWithSpan(context.Background(), s.span), &child)
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(s.method),
		semconv.ServerAddress(a.Host),
		semconv.ServerPort(a.Port),
	}
	if a.Retry > 0 {
		attrs = append(attrs, attribute.Int(AttrUpstreamAttempts, a.Retry))
	}
	_, span := s.span.TracerProvider().Tracer(scope).Start(ctx, s.method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return Span{span: span, method: s.method}, child
}

// SetPeer records network.peer.address: the address the attempt's
// connection went to (fasthttp's Response.RemoteAddr), once known.
func (s Span) SetPeer(addr string) {
	if s.span == nil || addr == "" {
		return
	}
	s.span.SetAttributes(semconv.NetworkPeerAddress(addr))
}

// RecordError marks s failed with the gateway's error message (the one its
// JSON error body carries), as an exception event and the span's status.
func (s Span) RecordError(msg string) {
	if s.span == nil {
		return
	}
	s.span.RecordError(errors.New(msg))
	s.span.SetStatus(codes.Error, msg)
}

// End records the response status (http.response.status_code; 0 when none
// was received) and ends s. Per the HTTP semantic conventions a 5xx marks a
// server span failed, a 4xx or 5xx a client span.
func (s Span) End(status int) {
	if s.span == nil {
		return
	}
	if status > 0 {
		s.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 || (!s.server && status >= 400) {
			s.span.SetStatus(codes.Error, "")
		}
	}
	s.span.End()
}

// StreamEnd reports the end of the SSE stream or WebSocket bridge that s's
// handshake opened (s already ended at the handshake): a span under s from
// started to now, holding a stream.end event with how long the stream
// lived, why it ended (e.g. "client closed", "upstream closed", "shutdown")
// and how many messages or events passed.
func (s Span) StreamEnd(started time.Time, reason string, messages int64) {
	if s.span == nil {
		return
	}
	now := time.Now()
	ctx := trace.ContextWithSpan(context.Background(), s.span)
	_, span := s.span.TracerProvider().Tracer(scope).Start(ctx, "stream", trace.WithTimestamp(started))
	span.AddEvent(EventStreamEnd, trace.WithTimestamp(now), trace.WithAttributes(
		attribute.Float64(AttrStreamDuration, now.Sub(started).Seconds()),
		attribute.String(AttrStreamEndReason, reason),
		attribute.Int64(AttrStreamMessages, messages),
	))
	span.End(trace.WithTimestamp(now))
}
