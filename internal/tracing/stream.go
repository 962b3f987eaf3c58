package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// The stream-end event and its attributes: the gateway's own names, as the
// semantic conventions have none for how a stream ended.
const (
	EventStreamEnd      = "gateway.stream.end"
	AttrStreamDuration  = "gateway.stream.duration"   // seconds, as semantic-convention durations are
	AttrStreamEndReason = "gateway.stream.end_reason" // a streams.EndReason
	AttrStreamMessages  = "gateway.stream.messages"   // WebSocket messages or SSE events, both directions
)

// spanStream is the name of the span StreamEnd adds.
const spanStream = "stream"

// StreamEnd reports the end of the SSE stream or WebSocket bridge that s's
// handshake opened. s (the handshake's span) has ended by then, and an
// ended span takes no more events, so StreamEnd adds a span under s that
// runs from started (the stream's start) to now, holding one event with
// how long the stream lived, why it ended (one of package streams' fixed
// set of EndReason values, passed as text so that this package needs none
// of the registry's) and how many messages or events passed. A nil s does
// nothing.
func (s *Span) StreamEnd(started time.Time, reason string, messages int64) {
	if s != nil {
		s.streamEnd(started, reason, messages)
	}
}

// streamEnd is StreamEnd of a span being exported.
func (s *Span) streamEnd(started time.Time, reason string, messages int64) {
	now := time.Now()
	ctx := trace.ContextWithSpan(context.Background(), s.span)
	_, span := s.t.tracer.Start(ctx, spanStream, trace.WithTimestamp(started))
	span.AddEvent(EventStreamEnd, trace.WithTimestamp(now), trace.WithAttributes(
		attribute.Float64(AttrStreamDuration, now.Sub(started).Seconds()),
		attribute.String(AttrStreamEndReason, reason),
		attribute.Int64(AttrStreamMessages, messages),
	))
	span.End(trace.WithTimestamp(now))
}
