package tracing

import (
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/config"
	"gateway/internal/tracecontext"
)

func TestFromConfig(t *testing.T) {
	tests := []struct {
		name string
		set  func(c *config.Config)
		want Options
		err  string
	}{
		{name: "nothing set: off", set: func(*config.Config) {},
			want: Options{Protocol: ProtocolHTTP, ServiceName: "gateway", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "base endpoint, http: /v1/traces appended",
			set:  func(c *config.Config) { c.OTelEndpoint = "http://collector:4318" },
			want: Options{Endpoint: "http://collector:4318/v1/traces", Protocol: ProtocolHTTP, ServiceName: "gateway", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "base endpoint with a path and a slash",
			set:  func(c *config.Config) { c.OTelEndpoint = "https://c.example/otlp/" },
			want: Options{Endpoint: "https://c.example/otlp/v1/traces", Protocol: ProtocolHTTP, ServiceName: "gateway", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "traces endpoint as given, over the base",
			set: func(c *config.Config) {
				c.OTelEndpoint, c.OTelTracesEndpoint = "http://base:4318", "http://traces:4318/custom"
			},
			want: Options{Endpoint: "http://traces:4318/custom", Protocol: ProtocolHTTP, ServiceName: "gateway", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "grpc: base endpoint as given",
			set:  func(c *config.Config) { c.OTelEndpoint, c.OTelProtocol = "http://collector:4317", "grpc" },
			want: Options{Endpoint: "http://collector:4317", Protocol: ProtocolGRPC, ServiceName: "gateway", Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "headers, resource, sampler, disabled",
			set: func(c *config.Config) {
				c.OTelEndpoint, c.OTelHeaders, c.OTelResourceAttributes = "http://c:4318", "api-key=s%20ecret, x=1", "team=edge"
				c.OTelSampler, c.OTelSamplerArg, c.OTelSDKDisabled = "traceidratio", 0.25, true
			},
			want: Options{Endpoint: "http://c:4318/v1/traces", Protocol: ProtocolHTTP, ServiceName: "gateway",
				Headers: map[string]string{"api-key": "s ecret", "x": "1"}, Resource: map[string]string{"team": "edge"},
				Sampler: "traceidratio", SamplerArg: 0.25, Disabled: true}},
		{name: "service.name from the resource when OTEL_SERVICE_NAME is left alone",
			set:  func(c *config.Config) { c.OTelResourceAttributes = "service.name=billing-edge" },
			want: Options{Protocol: ProtocolHTTP, ServiceName: "billing-edge", Resource: map[string]string{"service.name": "billing-edge"}, Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "OTEL_SERVICE_NAME over the resource's",
			set:  func(c *config.Config) { c.OTelServiceName, c.OTelResourceAttributes = "edge", "service.name=other" },
			want: Options{Protocol: ProtocolHTTP, ServiceName: "edge", Resource: map[string]string{"service.name": "other"}, Sampler: "parentbased_always_on", SamplerArg: 1}},
		{name: "bad headers named, value not shown",
			set: func(c *config.Config) { c.OTelHeaders = "Authorization Bearer secret" }, err: "OTEL_EXPORTER_OTLP_HEADERS: entry 1"},
		{name: "bad resource",
			set: func(c *config.Config) { c.OTelResourceAttributes = "=x" }, err: "OTEL_RESOURCE_ATTRIBUTES"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.set(c)
			got, err := FromConfig(c, "", nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %v, want one naming %q and showing no value", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Headers) == 0 {
				got.Headers = nil
			}
			if len(got.Resource) == 0 {
				got.Resource = nil
			}
			if got.Endpoint != tc.want.Endpoint || got.Protocol != tc.want.Protocol || got.ServiceName != tc.want.ServiceName ||
				got.Sampler != tc.want.Sampler || got.SamplerArg != tc.want.SamplerArg || got.Disabled != tc.want.Disabled ||
				!maps.Equal(got.Headers, tc.want.Headers) || !maps.Equal(got.Resource, tc.want.Resource) {
				t.Errorf("FromConfig =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// TestNewOff: no endpoint, or OTEL_SDK_DISABLED, is no tracer and no error;
// a bad sampler or protocol is an error, not a panic.
func TestNewOff(t *testing.T) {
	for _, o := range []Options{{}, {Endpoint: "http://127.0.0.1:1/v1/traces", Disabled: true}} {
		if tr, err := New(o); tr != nil || err != nil {
			t.Errorf("New(%+v) = %v, %v; want nil, nil", o, tr, err)
		}
	}
	for _, o := range []Options{
		{Endpoint: "http://127.0.0.1:1/v1/traces", Sampler: "sometimes"},
		{Endpoint: "http://127.0.0.1:1/v1/traces", Sampler: "traceidratio", SamplerArg: 2},
		{Endpoint: "http://127.0.0.1:1", Protocol: "http/json"},
	} {
		if tr, err := New(o); tr != nil || err == nil {
			t.Errorf("New(%+v) = %v, %v; want an error", o, tr, err)
		}
	}
}

// TestDisabledByEnvFile reads the OTEL_* variables from a .env file the way
// the gateway does: with an endpoint spans reach the receiver at the base
// URL's /v1/traces; with OTEL_SDK_DISABLED=true beside it nothing is built
// and nothing arrives.
func TestDisabledByEnvFile(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		rcv := newHTTPReceiver(t, false)
		for _, name := range []string{"UPSTREAMS", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
			t.Setenv(name, "")
		}
		env := "UPSTREAMS={\"users\":[\"http://127.0.0.1:9001\"]}\nOTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.URL + "\n"
		if disabled {
			env += "OTEL_SDK_DISABLED=true\n"
		}
		path := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		o, err := FromConfig(cfg, "v0", nil)
		if err != nil {
			t.Fatal(err)
		}
		o.BatchTimeout = time.Hour
		tr, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if (tr == nil) != disabled {
			t.Fatalf("OTEL_SDK_DISABLED=%v: tracer %v", disabled, tr)
		}
		requests(tr, 3)
		if err := shutdown(t, tr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		want := 6
		if disabled {
			want = 0
		}
		if spans, reqs := rcv.got(); len(spans) != want || (disabled && reqs != 0) {
			t.Errorf("OTEL_SDK_DISABLED=%v: %d spans in %d exports arrived, want %d", disabled, len(spans), reqs, want)
		}
	}
}

// TestSampler: each OTEL_TRACES_SAMPLER decides what reaches the receiver,
// and the upstream's traceparent carries the decision. traceidratio keeps
// a trace when the low 8 bytes of its id, shifted right once, fall below
// ratio × 2^63 (the SDK's TraceIDRatioBased).
func TestSampler(t *testing.T) {
	const (
		low  = "00-4bf92f3577b34da60000000000000001-00f067aa0ba902b7-"
		high = "00-4bf92f3577b34da6fffffffffffffffe-00f067aa0ba902b7-"
	)
	tests := []struct {
		sampler string
		arg     float64
		parent  string // incoming traceparent; "" = none
		want    bool
	}{
		{"", 0, "", true},
		{"parentbased_always_on", 1, clientHeader, true},
		{"parentbased_always_on", 1, low + "00", false},
		{"always_on", 1, low + "00", true},
		{"always_off", 1, clientHeader, false},
		{"parentbased_always_off", 1, "", false},
		{"parentbased_always_off", 1, clientHeader, true},
		{"traceidratio", 0.5, low + "00", true},
		{"traceidratio", 0.5, high + "01", false},
		{"traceidratio", 0, low + "01", false},
		{"parentbased_traceidratio", 0, low + "01", true},
		{"parentbased_traceidratio", 0, "", false},
		{"parentbased_traceidratio", 1, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.sampler+"/"+tc.parent, func(t *testing.T) {
			rcv := newHTTPReceiver(t, false)
			tr := newTestTracer(t, Options{Endpoint: rcv.URL + "/v1/traces", Sampler: tc.sampler, SamplerArg: tc.arg, BatchTimeout: time.Hour})
			req, ctx := incoming(tc.parent, "")
			defer fasthttp.ReleaseRequest(req)
			srv := tr.StartServer(&ctx, req, apiRoute, netip.Addr{})
			cli, out := srv.StartClient(&ctx, Attempt{Host: "u", Port: 1})
			if srv.Recording() != tc.want || cli.Recording() != tc.want {
				t.Errorf("recording: server %v, client %v; want %v", srv.Recording(), cli.Recording(), tc.want)
			}
			if got := out.Flags&tracecontext.FlagSampled != 0; got != tc.want {
				t.Errorf("upstream's sampled flag %v, want %v", got, tc.want)
			}
			if !tc.want && out.Span != ctx.Span {
				t.Errorf("unsampled: upstream's parent %s, want the gateway's span %s", out.Span, ctx.Span)
			}
			cli.End(200)
			srv.End(200)
			if err := shutdown(t, tr, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			want := 0
			if tc.want {
				want = 2
			}
			if spans, _ := rcv.got(); len(spans) != want {
				t.Errorf("%d spans arrived, want %d", len(spans), want)
			}
		})
	}
}

func TestMethod(t *testing.T) {
	tests := []struct{ in, name, attr, original string }{
		{"GET", "GET", "GET", ""},
		{"PATCH", "PATCH", "PATCH", ""},
		{"get", "HTTP", "_OTHER", "get"},
		{"PROPFIND", "HTTP", "_OTHER", "PROPFIND"},
	}
	for _, tc := range tests {
		m := newMethod([]byte(tc.in))
		got := map[string]string{}
		for _, kv := range m.attrs {
			got[string(kv.Key)] = kv.Value.AsString()
		}
		if m.name != tc.name || got["http.request.method"] != tc.attr || got["http.request.method_original"] != tc.original {
			t.Errorf("%s: name %q, attributes %v; want %q, %q, original %q", tc.in, m.name, got, tc.name, tc.attr, tc.original)
		}
	}
}

// TestOffCostsNothing: with export off every call the handlers make is
// free of allocations (and, by construction, of SDK calls).
func TestOffCostsNothing(t *testing.T) {
	var tr *Tracer
	req, tc := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	client := netip.MustParseAddr("192.0.2.7")
	peer := net.Addr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9001}) // as fasthttp reports it
	allocs := testing.AllocsPerRun(1000, func() { offRequest(tr, &tc, req, client, peer) })
	if allocs != 0 {
		t.Errorf("%v allocations per request with export off, want 0", allocs)
	}
	if tr.Enabled() || tr.Stats() != (Stats{}) || tr.Shutdown(t.Context()) != nil {
		t.Error("a nil tracer is not plainly off")
	}
}

// offRequest makes every call a proxied stream request makes.
func offRequest(tr *Tracer, tc *tracecontext.Context, req *fasthttp.Request, client netip.Addr, peer net.Addr) {
	srv := tr.StartServer(tc, req, apiRoute, client)
	cli, out := srv.StartClient(tc, Attempt{Host: "u", Port: 1})
	_ = out
	cli.SetPeer(peer)
	cli.RecordError("upstream unreachable")
	cli.End(502)
	srv.RecordError("upstream unreachable")
	srv.End(502)
	srv.StreamEnd(time.Time{}, "client_left", 1)
	tr.StartInternal(tc, "cache refresh").End(0)
}
