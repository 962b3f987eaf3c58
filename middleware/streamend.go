package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/streams"
	"gateway/internal/tracing"
)

// StreamEnds reports how each SSE stream and WebSocket bridge ended. The
// access log writes a stream's line when its handshake is answered, long
// before the stream ends, so the end gets a line of its own ("stream
// end", at Info: requestId, traceId, kind, service, upstream, reason,
// durationMs, messages) and, with export on and the trace sampled, a span
// under the handshake's server span holding the stream-end event (see
// tracing.Span.StreamEnd). The zero value is not usable; see
// NewStreamEnds.
type StreamEnds struct {
	log         *slog.Logger
	upstreamKey string
}

// NewStreamEnds returns the reporter logging to logger; upstreamKey is the
// Locals key of the upstream the handler picked, as for AccessLog.
func NewStreamEnds(logger *slog.Logger, upstreamKey string) *StreamEnds {
	return &StreamEnds{log: logger, upstreamKey: upstreamKey}
}

// StreamEnd is one stream's report, begun at its handshake: what the end
// line and span need of the request, copied out of it (fasthttp reuses its
// buffers once the handler returns). A nil *StreamEnd reports nothing.
type StreamEnd struct {
	log       *slog.Logger // nil: Info is off
	span      *tracing.Span
	kind      streams.Kind
	started   time.Time
	requestID string
	traceID   string
	service   string
	upstream  string
}

// Begin starts the report of the stream of kind that c's handshake opens;
// call it from the handler, once the upstream is picked. It returns nil
// when there is nothing to report to: Info logging off and no span (export
// off, or the trace unsampled). A nil s also returns nil.
func (s *StreamEnds) Begin(c *fiber.Ctx, kind streams.Kind) *StreamEnd {
	if s == nil {
		return nil
	}
	e := &StreamEnd{kind: kind, started: time.Now()}
	if rt := TraceOf(c); rt != nil {
		e.span = rt.Span
	}
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		e.log = s.log
	}
	if e.log == nil && e.span == nil {
		return nil
	}
	e.requestID, e.traceID = string(GetRequestID(c)), string(TraceID(c))
	if u, ok := c.Locals(s.upstreamKey).(UpstreamNamer); ok && u != nil {
		e.upstream, e.service = u.String(), u.Service()
	}
	return e
}

// End reports the stream's end: why, and how many messages (WebSocket) or
// events (SSE) passed, both directions together. Call it once, when the
// stream has let go of both its connections.
func (e *StreamEnd) End(reason streams.EndReason, messages int64) {
	if e == nil {
		return
	}
	e.span.StreamEnd(e.started, reason.String(), messages)
	if e.log == nil {
		return
	}
	e.log.LogAttrs(context.Background(), slog.LevelInfo, "stream end",
		slog.String("requestId", e.requestID),
		slog.String("traceId", e.traceID),
		slog.String("kind", e.kind.String()),
		slog.String("service", e.service),
		slog.String("upstream", e.upstream),
		slog.String("reason", reason.String()),
		slog.Int64("durationMs", time.Since(e.started).Milliseconds()),
		slog.Int64("messages", messages),
	)
}
