package tracing

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"gateway/internal/tracecontext"
)

// idsKey is the context key of the ids a span being started must take.
type idsKey struct{}

// wantIDs are the trace and span ids the gateway already chose (and sent
// upstream in traceparent) for the span being started.
type wantIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// withIDs returns ctx asking the span started under it to take tc's ids.
func withIDs(ctx context.Context, tc *tracecontext.Context) context.Context {
	return context.WithValue(ctx, idsKey{}, wantIDs{trace: trace.TraceID(tc.TraceID), span: trace.SpanID(tc.Span)})
}

// ids is the SDK's IDGenerator: it hands out the ids package tracecontext
// made, so that the exported span is the one the upstream names as its
// parent. A span started without them (the stream span of StreamEnd) gets
// fresh ones from tracecontext's generator.
type ids struct{}

// NewIDs returns the root span's trace and span ids.
func (ids) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if w, ok := ctx.Value(idsKey{}).(wantIDs); ok {
		return w.trace, w.span
	}
	return trace.TraceID(tracecontext.NewTraceID()), trace.SpanID(tracecontext.NewSpanID())
}

// NewSpanID returns the id of a span under a parent of traceID.
func (ids) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if w, ok := ctx.Value(idsKey{}).(wantIDs); ok {
		return w.span
	}
	return trace.SpanID(tracecontext.NewSpanID())
}
