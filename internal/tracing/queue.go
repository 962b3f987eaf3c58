package tracing

import (
	"context"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// queue is the SDK's BatchSpanProcessor with a bound the gateway counts:
// queued holds the spans handed to the batch processor and not yet given to
// the exporter, and a span that would pass MaxQueue is dropped here and
// counted, so the batch processor (whose own queue is as large) never drops
// one silently. The SDK keeps its drop count private; this is how it
// reaches /metrics.
type queue struct {
	sdktrace.SpanProcessor // the batch processor
	max                    int64
	queued                 atomic.Int64
	dropped                atomic.Uint64
	failed                 atomic.Uint64
}

// newQueue wraps exp in the batch processor of o's bounds. OnEnd never
// blocks: WithBlocking is not set.
func newQueue(exp sdktrace.SpanExporter, o Options) *queue {
	q := &queue{max: int64(o.MaxQueue)}
	bsp := sdktrace.NewBatchSpanProcessor(&countingExporter{SpanExporter: exp, q: q, opts: o},
		sdktrace.WithMaxQueueSize(o.MaxQueue),
		sdktrace.WithMaxExportBatchSize(o.BatchSize),
		sdktrace.WithBatchTimeout(o.BatchTimeout),
		sdktrace.WithExportTimeout(o.ExportTimeout),
	)
	q.SpanProcessor = bsp
	return q
}

// OnEnd queues a sampled span for export, or drops and counts it when the
// queue is full.
func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor skips these too
	}
	if q.queued.Add(1) > q.max {
		q.queued.Add(-1)
		q.dropped.Add(1)
		return
	}
	q.SpanProcessor.OnEnd(s)
}

// countingExporter releases queue places as batches leave, counts spans
// that failed to export, and logs failures itself (at most one line per
// logEvery) instead of through the SDK's global error handler.
type countingExporter struct {
	sdktrace.SpanExporter
	q       *queue
	opts    Options
	lastLog atomic.Int64 // Unix nanoseconds of the last failure line
}

// ExportSpans exports one batch. Its error is logged and counted, not
// returned: the batch processor would only hand it to the global handler.
func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.q.queued.Add(-int64(len(spans)))
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	e.q.failed.Add(uint64(len(spans)))
	now := time.Now().UnixNano()
	if last := e.lastLog.Load(); now-last >= int64(logEvery) && e.lastLog.CompareAndSwap(last, now) {
		e.opts.Logger.Warn("span export failed", "spans", len(spans), "endpoint", e.opts.Endpoint, "error", err.Error())
	}
	return nil
}
