// Package tracing exports the gateway's spans with the OpenTelemetry Go SDK
// over OTLP (HTTP/protobuf or gRPC), configured from the standard OTEL_*
// variables as package config reads them (so .env counts).
//
// Export is off unless an endpoint is set: New then returns a nil *Tracer,
// and every method of a nil *Tracer and of the zero Span returns at once
// without touching the SDK, so the request path pays for W3C trace context
// (package tracecontext) alone (see BenchmarkOff). When on, spans leave
// through a bounded batch queue: a collector that is down or slow never
// blocks a request, and spans that do not fit are dropped and counted
// (Stats).
//
// The package never touches the SDK's globals (otel.SetTracerProvider,
// the global propagator): the gateway propagates with tracecontext and
// passes its *Tracer to whoever starts spans.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"gateway/config"
)

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Defaults of the export queue. They are not environment variables (the
// OTEL_BSP_* ones are not read): the bounds are the gateway's own.
const (
	DefaultMaxQueue      = 2048
	DefaultBatchSize     = 512
	DefaultBatchTimeout  = time.Second
	DefaultExportTimeout = 10 * time.Second
)

// scope is the instrumentation scope of every span.
const scope = "gateway"

// Options configure New. Build them with FromConfig; the zero value exports
// nothing.
type Options struct {
	Endpoint    string            // traces URL (HTTP) or collector URL (gRPC); "" = off
	Protocol    string            // ProtocolHTTP (also "") or ProtocolGRPC
	Headers     map[string]string // sent with every export
	ServiceName string            // service.name ("gateway" when empty)
	Version     string            // service.version, unless Resource names one
	Resource    map[string]string // OTEL_RESOURCE_ATTRIBUTES
	Sampler     string            // an OTEL_TRACES_SAMPLER value ("" = parentbased_always_on)
	SamplerArg  float64           // the traceidratio samplers' ratio
	Disabled    bool              // OTEL_SDK_DISABLED

	MaxQueue      int           // spans waiting for export, at most; beyond, dropped (DefaultMaxQueue)
	BatchSize     int           // spans per export (DefaultBatchSize)
	BatchTimeout  time.Duration // longest wait before a partial batch goes (DefaultBatchTimeout)
	ExportTimeout time.Duration // one export, retries included (DefaultExportTimeout)
	Logger        *slog.Logger  // export failures, at most one line per logEvery (default: nowhere)
}

// FromConfig returns the Options of cfg's OTEL_* variables; version is the
// build's (service.version). The endpoint is
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else the base
// OTEL_EXPORTER_OTLP_ENDPOINT, to which HTTP appends /v1/traces (OTLP
// exporter specification, "Endpoint URLs for OTLP/HTTP"). A service.name in
// OTEL_RESOURCE_ATTRIBUTES counts when OTEL_SERVICE_NAME is left at its
// default: the specification lets OTEL_SERVICE_NAME win, and config cannot
// tell "gateway" set from "gateway" defaulted.
func FromConfig(cfg *config.Config, version string, log *slog.Logger) (Options, error) {
	headers, err := config.KeyValues(cfg.OTelHeaders)
	if err != nil {
		return Options{}, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %w", err)
	}
	res, err := config.KeyValues(cfg.OTelResourceAttributes)
	if err != nil {
		return Options{}, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	name := cfg.OTelServiceName
	if v, ok := res[string(semconv.ServiceNameKey)]; ok && v != "" && name == config.Default().OTelServiceName {
		name = v
	}
	endpoint := cfg.OTelTracesEndpoint
	if endpoint == "" && cfg.OTelEndpoint != "" {
		endpoint = cfg.OTelEndpoint
		if cfg.OTelProtocol != ProtocolGRPC {
			endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
		}
	}
	return Options{
		Endpoint: endpoint, Protocol: cfg.OTelProtocol, Headers: headers,
		ServiceName: name, Version: version, Resource: res,
		Sampler: cfg.OTelSampler, SamplerArg: cfg.OTelSamplerArg, Disabled: cfg.OTelSDKDisabled,
		Logger: log,
	}, nil
}

// Tracer starts the gateway's spans and exports them. A nil *Tracer is
// export off: its methods do nothing and cost nothing.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	queue    *queue
	client   *http.Client // the HTTP exporter's, whose idle connections Shutdown closes; nil for gRPC
}

// Stats counts spans that were not exported.
type Stats struct {
	Dropped uint64 // the export queue was full
	Failed  uint64 // the collector refused them, could not be reached, or Shutdown ran out of time
}

// New builds the tracer of opts, or returns nil (export off, no error) when
// opts has no endpoint or is disabled. Nothing connects yet: a collector
// that is down shows later, in Stats and the log. Call Shutdown when done.
func New(opts Options) (*Tracer, error) {
	if opts.Disabled || opts.Endpoint == "" {
		return nil, nil
	}
	opts = withDefaults(opts)
	sampler, err := newSampler(opts.Sampler, opts.SamplerArg)
	if err != nil {
		return nil, err
	}
	res, err := newResource(opts)
	if err != nil {
		return nil, err
	}
	t := &Tracer{}
	exp, err := t.newExporter(opts)
	if err != nil {
		return nil, fmt.Errorf("building the OTLP exporter: %w", err)
	}
	t.queue = newQueue(exp, opts)
	t.provider = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(t.queue),
		sdktrace.WithSampler(sampler),
		sdktrace.WithIDGenerator(ids{}),
		sdktrace.WithResource(res),
	)
	t.tracer = t.provider.Tracer(scope)
	return t, nil
}

// Enabled reports whether spans are exported.
func (t *Tracer) Enabled() bool { return t != nil }

// Stats returns the counts of spans lost so far, for /metrics. It is safe
// for concurrent use and cheap (two atomic loads).
func (t *Tracer) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	return Stats{Dropped: t.queue.dropped.Load(), Failed: t.queue.failed.Load()}
}

// Shutdown exports what is queued and stops, within ctx: when ctx ends
// first, exports still in flight are abandoned (their spans counted as
// Failed) so that nothing lingers, and the error wraps ctx's. A collector
// that is down or slow costs at most the time ctx leaves.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.provider.Shutdown(ctx)
	// The provider skips its processors when ctx has already ended; the
	// queue's Shutdown is idempotent and stops the batch processor anyway.
	_ = t.queue.Shutdown(ctx)
	if t.client != nil {
		t.client.CloseIdleConnections()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("flushing spans: %w", err)
	}
	return err
}

// logEvery spaces export failure log lines.
const logEvery = 30 * time.Second
