package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
)

// DefaultServiceName is service.name when none is given.
const DefaultServiceName = "gateway"

// withDefaults fills what o leaves zero.
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
	if o.ServiceName == "" {
		o.ServiceName = DefaultServiceName
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// newExporter builds the OTLP exporter of o.Protocol. Each export is
// bounded by ExportTimeout, retries included; the SDK's retry backs off
// between attempts (OTLP specification, "Retry"). Nothing is dialled here.
//
// The HTTP exporter gets a client of its own, not the SDK's package-level
// transport, so that Shutdown can close its idle connections. TLS is the
// system's roots: the OTEL_EXPORTER_OTLP_*CERTIFICATE variables are not
// among those the gateway reads.
func (t *Tracer) newExporter(o Options) (sdktrace.SpanExporter, error) {
	ctx := context.Background()
	switch o.Protocol {
	case ProtocolHTTP, "":
		t.client = &http.Client{Transport: newTransport(o.ExportTimeout)}
		return otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(o.Endpoint),
			otlptracehttp.WithHeaders(o.Headers),
			otlptracehttp.WithHTTPClient(t.client),
			otlptracehttp.WithTimeout(o.ExportTimeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig(retry(o.ExportTimeout))),
		)
	case ProtocolGRPC:
		return otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpointURL(o.Endpoint),
			otlptracegrpc.WithHeaders(o.Headers),
			otlptracegrpc.WithTimeout(o.ExportTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig(retry(o.ExportTimeout))),
		)
	}
	return nil, fmt.Errorf("protocol %q is not %s or %s", o.Protocol, ProtocolHTTP, ProtocolGRPC)
}

// retryConfig is the shape of both exporters' RetryConfig.
type retryConfig = struct {
	Enabled         bool
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsedTime  time.Duration
}

// retry is the exporters' retry policy: a few backed-off attempts, all
// within one export's budget.
func retry(budget time.Duration) retryConfig {
	return retryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: budget}
}

// newTransport is net/http's default transport with the dial bounded by
// the export budget and few idle connections: one collector, one exporter.
func newTransport(budget time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: budget, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   budget,
		ExpectContinueTimeout: time.Second,
	}
}

// newSampler maps an OTEL_TRACES_SAMPLER value (OpenTelemetry's
// environment variable specification, "General SDK Configuration") to the
// SDK's sampler; "" is the default, parentbased_always_on.
func newSampler(name string, arg float64) (sdktrace.Sampler, error) {
	if name == "" {
		name = "parentbased_always_on"
	}
	root, parentBased := strings.CutPrefix(name, "parentbased_")
	var s sdktrace.Sampler
	switch root {
	case "always_on":
		s = sdktrace.AlwaysSample()
	case "always_off":
		s = sdktrace.NeverSample()
	case "traceidratio":
		if arg < 0 || arg > 1 {
			return nil, fmt.Errorf("sampler ratio %v is not within [0, 1]", arg)
		}
		s = sdktrace.TraceIDRatioBased(arg)
	default:
		return nil, fmt.Errorf("sampler %q is not supported", name)
	}
	if parentBased {
		s = sdktrace.ParentBased(s)
	}
	return s, nil
}

// newResource is the process's resource: service.name, service.version and
// the telemetry.sdk.* attributes, then OTEL_RESOURCE_ATTRIBUTES (whose
// service.name gave way to o.ServiceName in FromConfig). The SDK's
// environment detectors are not used: they read the process environment
// only, not .env.
func newResource(o Options) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName(o.ServiceName)}
	if o.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(o.Version))
	}
	for k, v := range o.Resource {
		if k != string(semconv.ServiceNameKey) {
			attrs = append(attrs, attribute.String(k, v)) // a later key wins: a given service.version does
		}
	}
	res, err := resource.New(context.Background(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("building the trace resource: %w", err)
	}
	return res, nil
}
