package tracing

import (
	"context"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// queue is the SDK's BatchSpanProcessor with a bound the gateway counts:
// queued holds the spans handed to the batch processor and not yet given to
// the exporter, and a span that would pass max is dropped here and counted,
// so the batch processor (whose own queue is as large) never drops one
// silently. The SDK keeps its own drop count private; this is how it
// reaches /metrics. OnEnd never blocks: the batch processor is built
// without WithBlocking, and the check here is one atomic add.
type queue struct {
	sdktrace.SpanProcessor // the batch processor
	max                    int64
	queued                 atomic.Int64
	dropped                atomic.Uint64
	failed                 atomic.Uint64
	// aborted ends exports in flight and fails those to come, once
	// Shutdown's budget is spent; abort cancels it.
	aborted context.Context
	abort   context.CancelFunc
}

// newQueue wraps exp in the batch processor of o's bounds.
func newQueue(exp sdktrace.SpanExporter, o Options) *queue {
	q := &queue{max: int64(o.MaxQueue)}
	q.aborted, q.abort = context.WithCancel(context.Background())
	q.SpanProcessor = sdktrace.NewBatchSpanProcessor(&countingExporter{SpanExporter: exp, q: q, opts: o},
		sdktrace.WithMaxQueueSize(o.MaxQueue),
		sdktrace.WithMaxExportBatchSize(o.BatchSize),
		sdktrace.WithBatchTimeout(o.BatchTimeout),
		sdktrace.WithExportTimeout(o.ExportTimeout),
	)
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

// Shutdown stops the batch processor, then releases the abort context.
func (q *queue) Shutdown(ctx context.Context) error {
	defer q.abort()
	return q.SpanProcessor.Shutdown(ctx)
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

// ExportSpans exports one batch, within ctx (the batch processor's export
// timeout) and until the queue is aborted. Its error is logged and
// counted, not returned: the batch processor would only hand it to the
// SDK's global handler, which prints to the standard logger.
func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.q.queued.Add(-int64(len(spans)))
	if e.q.aborted.Err() != nil {
		e.q.failed.Add(uint64(len(spans)))
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.q.aborted, cancel)()
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

// Shutdown closes the exporter. An error that only says ctx ran out is
// dropped (Tracer.Shutdown reports that), others are logged; nil goes back
// to the batch processor, which would hand an error to the SDK's global
// handler.
func (e *countingExporter) Shutdown(ctx context.Context) error {
	if err := e.SpanExporter.Shutdown(ctx); err != nil && ctx.Err() == nil {
		e.opts.Logger.Warn("closing the span exporter", "endpoint", e.opts.Endpoint, "error", err.Error())
	}
	return nil
}
