// Package tracing exports the gateway's spans with the OpenTelemetry Go SDK
// over OTLP (HTTP/protobuf or gRPC), configured from the standard OTEL_*
// variables as config reads them.
//
// Export is off unless an endpoint is set: New then returns a nil *Tracer,
// and every method of a nil *Tracer and of the zero Span returns at once
// without touching the SDK, so the request path pays for W3C trace context
// (package tracecontext) alone. When on, spans leave through a bounded
// batch queue: a collector that is down or slow never blocks a request, and
// spans that do not fit are dropped and counted (Stats).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
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

// Defaults of the export queue; not environment variables (the OTEL_BSP_*
// ones are not read: the bounds are the gateway's own).
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
	Protocol    string            // ProtocolHTTP or ProtocolGRPC
	Headers     map[string]string // sent with every export
	ServiceName string
	Resource    map[string]string // OTEL_RESOURCE_ATTRIBUTES
	Sampler     string            // an OTEL_TRACES_SAMPLER value
	SamplerArg  float64
	Disabled    bool // OTEL_SDK_DISABLED

	MaxQueue      int           // spans waiting for export, at most; beyond, dropped (DefaultMaxQueue)
	BatchSize     int           // spans per export (DefaultBatchSize)
	BatchTimeout  time.Duration // longest wait before a partial batch goes (DefaultBatchTimeout)
	ExportTimeout time.Duration // one export, retries included (DefaultExportTimeout)
	Logger        *slog.Logger  // export failures, at most one line per logEvery (default: nowhere)
}

// FromConfig returns the Options of cfg's OTEL_* variables. The endpoint is
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else the base
// OTEL_EXPORTER_OTLP_ENDPOINT, to which HTTP appends /v1/traces (OTLP
// exporter specification, "Endpoint URLs for OTLP/HTTP").
func FromConfig(cfg *config.Config, log *slog.Logger) (Options, error) {
	headers, err := config.KeyValues(cfg.OTelHeaders)
	if err != nil {
		return Options{}, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %w", err)
	}
	res, err := config.KeyValues(cfg.OTelResourceAttributes)
	if err != nil {
		return Options{}, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
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
		ServiceName: cfg.OTelServiceName, Resource: res,
		Sampler: cfg.OTelSampler, SamplerArg: cfg.OTelSamplerArg, Disabled: cfg.OTelSDKDisabled,
		Logger: log,
	}, nil
}

// Tracer starts the gateway's spans and exports them. A nil *Tracer is
// export off: its methods do nothing.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	queue    *queue
}

// Stats counts spans that were not exported.
type Stats struct {
	Dropped uint64 // the export queue was full
	Failed  uint64 // the collector refused them or could not be reached
}

// New builds the tracer of opts, or returns nil (export off, no error) when
// opts has no endpoint or is disabled. Nothing connects yet: a collector
// that is down shows later, in Stats and the log.
func New(opts Options) (*Tracer, error) {
	if opts.Disabled || opts.Endpoint == "" {
		return nil, nil
	}
	opts = withDefaults(opts)
	sampler, err := newSampler(opts.Sampler, opts.SamplerArg)
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(opts)
	if err != nil {
		return nil, fmt.Errorf("building the OTLP exporter: %w", err)
	}
	q := newQueue(exp, opts)
	attrs := []attribute.KeyValue{semconv.ServiceName(opts.ServiceName)}
	for k, v := range opts.Resource {
		if k != string(semconv.ServiceNameKey) {
			attrs = append(attrs, attribute.String(k, v))
		}
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(q),
		sdktrace.WithSampler(sampler),
		sdktrace.WithIDGenerator(ids{}),
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL, attrs...)),
	)
	return &Tracer{provider: tp, tracer: tp.Tracer(scope), queue: q}, nil
}

// withDefaults fills the queue bounds opts leaves zero.
func withDefaults(o Options) Options {
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	o.BatchSize = min(o.BatchSize, o.MaxQueue)
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = DefaultExportTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// newExporter builds the OTLP exporter of opts.Protocol. Each export is
// bounded by ExportTimeout, retries included; the SDK's own retry backs off
// between attempts.
func newExporter(o Options) (sdktrace.SpanExporter, error) {
	ctx := context.Background() // New only builds; nothing is dialled here
	switch o.Protocol {
	case ProtocolHTTP, "":
		return otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(o.Endpoint),
			otlptracehttp.WithHeaders(o.Headers),
			otlptracehttp.WithTimeout(o.ExportTimeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: o.ExportTimeout}),
		)
	case ProtocolGRPC:
		return otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpointURL(o.Endpoint),
			otlptracegrpc.WithHeaders(o.Headers),
			otlptracegrpc.WithTimeout(o.ExportTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: o.ExportTimeout}),
		)
	}
	return nil, fmt.Errorf("protocol %q is not %s or %s", o.Protocol, ProtocolHTTP, ProtocolGRPC)
}

// newSampler maps an OTEL_TRACES_SAMPLER value to the SDK's sampler.
func newSampler(name string, arg float64) (sdktrace.Sampler, error) {
	root, parentBased := strings.CutPrefix(name, "parentbased_")
	var s sdktrace.Sampler
	switch root {
	case "always_on", "":
		s = sdktrace.AlwaysSample()
	case "always_off":
		s = sdktrace.NeverSample()
	case "traceidratio":
		s = sdktrace.TraceIDRatioBased(arg)
	default:
		return nil, fmt.Errorf("sampler %q is not supported", name)
	}
	if parentBased || name == "" {
		s = sdktrace.ParentBased(s)
	}
	return s, nil
}

// Enabled reports whether spans are exported.
func (t *Tracer) Enabled() bool { return t != nil }

// Stats returns the counts of spans lost so far, for /metrics.
func (t *Tracer) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	return Stats{Dropped: t.queue.dropped.Load(), Failed: t.queue.failed.Load()}
}

// Shutdown exports what is queued and stops, within ctx: a collector that
// is down or slow costs at most the time ctx leaves.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.provider.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("flushing spans: %w", err)
	}
	return err
}

// logEvery spaces export failure log lines.
const logEvery = 30 * time.Second
