package tracing

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"

	"gateway/internal/tracecontext"
)

// TestMain checks that no test leaves an exporter goroutine behind: every
// tracer a test builds is shut down, and Shutdown must stop everything.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	clientHeader = "00-" + clientTrace + "-" + clientParent + "-01"
	apiRoute     = "/api/:service/*"
)

// newTestTracer is New(o) that must export, shut down at the test's end.
func newTestTracer(t testing.TB, o Options) *Tracer {
	t.Helper()
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if tr == nil {
		t.Fatal("New returned no tracer for an endpoint")
	}
	t.Cleanup(func() { shutdown(t, tr, 5*time.Second) })
	return tr
}

// shutdown is tr.Shutdown within budget; its error is the caller's to judge.
func shutdown(t testing.TB, tr *Tracer, budget time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	return tr.Shutdown(ctx)
}

// incoming is a client's request to the gateway with the given traceparent
// and tracestate ("" = none), and its trace context as the gateway reads it.
func incoming(parent, state string) (*fasthttp.Request, tracecontext.Context) {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI("http://gw.example/api/users/list?q=1")
	req.Header.SetUserAgent("curl/8.5.0")
	if parent != "" {
		req.Header.Set(tracecontext.HeaderParent, parent)
	}
	if state != "" {
		req.Header.Set(tracecontext.HeaderState, state)
	}
	return req, tracecontext.FromRequest(&req.Header)
}

// sent is the traceparent that out writes into an upstream request.
func sent(out tracecontext.Context) string {
	var h fasthttp.RequestHeader
	out.InjectNew(&h)
	return string(h.Peek(tracecontext.HeaderParent))
}

// byKind indexes spans by kind; a test that expects one of a kind fails on two.
func byKind(t *testing.T, spans []gotSpan) map[tracepb.Span_SpanKind]gotSpan {
	t.Helper()
	m := map[tracepb.Span_SpanKind]gotSpan{}
	for _, s := range spans {
		if _, dup := m[s.GetKind()]; dup {
			t.Fatalf("two spans of kind %v", s.GetKind())
		}
		m[s.GetKind()] = s
	}
	return m
}

// wantAttrs fails the test unless got holds every pair of want.
func wantAttrs(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

// TestExportHTTP follows one proxied request to a real OTLP/HTTP receiver:
// both spans arrive in the client's trace, linked server → client, with
// the semantic-convention attributes, the gateway's error, the resource and
// the configured headers; the upstream's traceparent names the client span.
// The batch timeout is an hour: only Shutdown's flush can deliver them.
func TestExportHTTP(t *testing.T) {
	rcv := newHTTPReceiver(t, false)
	tr := newTestTracer(t, Options{
		Endpoint: rcv.URL + "/v1/traces", Headers: map[string]string{"Authorization": "Bearer k"},
		ServiceName: "edge", Version: "v1.2.3", Resource: map[string]string{"deployment.environment.name": "test"},
		BatchTimeout: time.Hour,
	})
	req, tc := incoming(clientHeader, "vendor=x")
	defer fasthttp.ReleaseRequest(req)

	srv := tr.StartServer(&tc, req, apiRoute, netip.MustParseAddr("::ffff:192.0.2.7"))
	cli, out := srv.StartClient(&tc, Attempt{Host: "users.internal", Port: 9001, Retry: 1})
	cli.SetPeer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9001})
	cli.End(503)
	srv.RecordError("upstream unavailable")
	srv.End(503)
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	spans, _ := rcv.got()
	if len(spans) != 2 {
		t.Fatalf("%d spans arrived, want 2", len(spans))
	}
	k := byKind(t, spans)
	server, client := k[tracepb.Span_SPAN_KIND_SERVER], k[tracepb.Span_SPAN_KIND_CLIENT]
	if server.Span == nil || client.Span == nil {
		t.Fatalf("want a server and a client span, got %v", spans)
	}
	for _, s := range spans {
		if got := hexID(s.GetTraceId()); got != clientTrace {
			t.Errorf("span %q: trace id %s, want the client's %s", s.GetName(), got, clientTrace)
		}
	}
	if got := hexID(server.GetParentSpanId()); got != clientParent {
		t.Errorf("server span's parent %s, want the client's span %s", got, clientParent)
	}
	if got, want := hexID(server.GetSpanId()), tc.Span.String(); got != want {
		t.Errorf("server span id %s, want the trace context's %s", got, want)
	}
	if got, want := hexID(client.GetParentSpanId()), hexID(server.GetSpanId()); got != want {
		t.Errorf("client span's parent %s, want the server span %s", got, want)
	}
	if got, want := sent(out), "00-"+clientTrace+"-"+hexID(client.GetSpanId())+"-01"; got != want {
		t.Errorf("upstream traceparent %s, want %s (the client span as parent)", got, want)
	}
	if got := server.GetTraceState(); got != "vendor=x" {
		t.Errorf("server span trace_state %q, want the client's", got)
	}
	if server.GetName() != "GET "+apiRoute || client.GetName() != "GET" {
		t.Errorf("span names %q and %q, want %q and GET", server.GetName(), client.GetName(), "GET "+apiRoute)
	}
	wantAttrs(t, "server span", attrMap(server.GetAttributes()), map[string]string{
		"http.request.method": "GET", "url.path": "/api/users/list", "url.scheme": "http", "http.route": apiRoute,
		"http.response.status_code": "503", "client.address": "192.0.2.7", "user_agent.original": "curl/8.5.0",
		"error.type": "upstream unavailable",
	})
	wantAttrs(t, "client span", attrMap(client.GetAttributes()), map[string]string{
		"http.request.method": "GET", "server.address": "users.internal", "server.port": "9001",
		"network.peer.address": "127.0.0.1", "network.peer.port": "9001", "http.request.resend_count": "1",
		"http.response.status_code": "503", "error.type": "503",
	})
	if st := server.GetStatus(); st.GetCode() != tracepb.Status_STATUS_CODE_ERROR || st.GetMessage() != "upstream unavailable" {
		t.Errorf("server span status %v, want an error saying the gateway's message", st)
	}
	if ev := server.GetEvents(); len(ev) != 1 || ev[0].GetName() != "exception" || attrMap(ev[0].GetAttributes())["exception.message"] != "upstream unavailable" {
		t.Errorf("server span events %v, want one exception with the gateway's message", ev)
	}
	if st := client.GetStatus(); st.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("client span status %v, want an error for a 503", st)
	}
	wantAttrs(t, "resource", server.resource, map[string]string{
		"service.name": "edge", "service.version": "v1.2.3", "deployment.environment.name": "test",
		"telemetry.sdk.language": "go",
	})
	if got := rcv.lastHeaders()["Authorization"]; got != "Bearer k" {
		t.Errorf("export's Authorization header %q, want the configured one", got)
	}
}

// TestExportGRPC sends a trace to a real OTLP/gRPC receiver.
func TestExportGRPC(t *testing.T) {
	rcv := newGRPCReceiver(t)
	tr := newTestTracer(t, Options{
		Endpoint: rcv.URL, Protocol: ProtocolGRPC, Headers: map[string]string{"x-tenant": "a"},
		BatchTimeout: time.Hour,
	})
	req, tc := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	srv := tr.StartServer(&tc, req, apiRoute, netip.Addr{})
	cli, _ := srv.StartClient(&tc, Attempt{Host: "users.internal", Port: 9001})
	cli.End(200)
	srv.End(200)
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	spans, _ := rcv.got()
	k := byKind(t, spans)
	server, client := k[tracepb.Span_SPAN_KIND_SERVER], k[tracepb.Span_SPAN_KIND_CLIENT]
	if len(spans) != 2 || server.Span == nil || client.Span == nil {
		t.Fatalf("spans %v, want a server and a client span", spans)
	}
	if hexID(server.GetTraceId()) != clientTrace || hexID(client.GetParentSpanId()) != hexID(server.GetSpanId()) {
		t.Errorf("trace %x, client parent %x, server %x: want the client's trace, server → client",
			server.GetTraceId(), client.GetParentSpanId(), server.GetSpanId())
	}
	if got := server.resource["service.name"]; got != DefaultServiceName {
		t.Errorf("service.name %q, want the default %q", got, DefaultServiceName)
	}
	if got := rcv.lastHeaders()["X-Tenant"]; got != "a" {
		t.Errorf("export's x-tenant metadata %q, want a", got)
	}
	if st := server.GetStatus(); st.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("a 200 marked the server span failed: %v", st)
	}
}

// TestAttempts: each upstream attempt is a client span of its own under
// the server span, and each attempt's traceparent names its own span; the
// failed first attempt carries the gateway's error and no status code, the
// retry its resend count.
func TestAttempts(t *testing.T) {
	rcv := newHTTPReceiver(t, false)
	tr := newTestTracer(t, Options{Endpoint: rcv.URL + "/v1/traces", BatchTimeout: time.Hour})
	req, tc := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	srv := tr.StartServer(&tc, req, apiRoute, netip.Addr{})
	first, out1 := srv.StartClient(&tc, Attempt{Host: "a.internal", Port: 9001})
	first.RecordError("upstream unreachable")
	first.End(0)
	second, out2 := srv.StartClient(&tc, Attempt{Host: "b.internal", Port: 9002, Retry: 1})
	second.End(200)
	srv.End(200)
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	spans, _ := rcv.got()
	byID := map[string]gotSpan{}
	for _, s := range spans {
		byID[hexID(s.GetSpanId())] = s
	}
	a, b := byID[out1.Span.String()], byID[out2.Span.String()]
	if len(spans) != 3 || a.Span == nil || b.Span == nil || out1.Span == out2.Span {
		t.Fatalf("spans %v: want the server span and one client span per attempt, named by its traceparent", spans)
	}
	for _, c := range []gotSpan{a, b} {
		if c.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || hexID(c.GetParentSpanId()) != tc.Span.String() {
			t.Errorf("attempt span %v: want a client span under the server span %s", c, tc.Span)
		}
	}
	attrsA, attrsB := attrMap(a.GetAttributes()), attrMap(b.GetAttributes())
	wantAttrs(t, "first attempt", attrsA, map[string]string{"server.address": "a.internal", "error.type": "upstream unreachable"})
	wantAttrs(t, "retry", attrsB, map[string]string{"server.address": "b.internal", "http.request.resend_count": "1", "http.response.status_code": "200"})
	if _, ok := attrsA["http.response.status_code"]; ok {
		t.Errorf("first attempt got no response but records a status code: %v", attrsA)
	}
	if _, ok := attrsA["http.request.resend_count"]; ok {
		t.Errorf("first attempt records a resend count: %v", attrsA)
	}
	if a.GetStatus().GetMessage() != "upstream unreachable" || b.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("statuses %v and %v: want the first failed with the gateway's message, the retry not", a.GetStatus(), b.GetStatus())
	}
}

// TestInternal: the cache's background refresh is a root span of the
// gateway's own trace, with the refresh's upstream attempt under it.
func TestInternal(t *testing.T) {
	rcv := newHTTPReceiver(t, false)
	tr := newTestTracer(t, Options{Endpoint: rcv.URL + "/v1/traces", BatchTimeout: time.Hour})
	tc := tracecontext.Start(nil, nil)
	root := tr.StartInternal(&tc, "cache refresh")
	cli, out := root.StartClient(&tc, Attempt{Method: "GET", Host: "u", Port: 1})
	cli.End(200)
	root.End(0)
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	spans, _ := rcv.got()
	k := byKind(t, spans)
	in, client := k[tracepb.Span_SPAN_KIND_INTERNAL], k[tracepb.Span_SPAN_KIND_CLIENT]
	if len(spans) != 2 || in.Span == nil || client.Span == nil {
		t.Fatalf("spans %v, want the refresh's and its attempt's", spans)
	}
	if len(in.GetParentSpanId()) != 0 || hexID(in.GetTraceId()) != tc.TraceID.String() || hexID(in.GetSpanId()) != tc.Span.String() {
		t.Errorf("refresh span %v: want a root with the trace context's ids", in)
	}
	if hexID(client.GetParentSpanId()) != tc.Span.String() || hexID(client.GetSpanId()) != out.Span.String() || client.GetName() != "GET" {
		t.Errorf("attempt span %v: want GET under the refresh span, named by its traceparent", client)
	}
}

// TestStreamEnd: the stream's span arrives under the handshake's span,
// spanning the stream, with the end event's duration, reason and count.
func TestStreamEnd(t *testing.T) {
	rcv := newHTTPReceiver(t, false)
	tr := newTestTracer(t, Options{Endpoint: rcv.URL + "/v1/traces", BatchTimeout: time.Hour})
	req, tc := incoming("", "")
	defer fasthttp.ReleaseRequest(req)
	srv := tr.StartServer(&tc, req, "/sse/:service/*", netip.Addr{})
	srv.End(200)
	started := time.Now().Add(-2 * time.Second)
	srv.StreamEnd(started, "upstream_ended", 42)
	if err := shutdown(t, tr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	spans, _ := rcv.got()
	k := byKind(t, spans)
	server, stream := k[tracepb.Span_SPAN_KIND_SERVER], k[tracepb.Span_SPAN_KIND_INTERNAL]
	if len(spans) != 2 || server.Span == nil || stream.Span == nil {
		t.Fatalf("spans %v, want the handshake's and the stream's", spans)
	}
	if hexID(server.GetTraceId()) != tc.TraceID.String() || hexID(stream.GetParentSpanId()) != hexID(server.GetSpanId()) {
		t.Errorf("stream span not under the handshake's: %v", spans)
	}
	if got, want := stream.GetStartTimeUnixNano(), uint64(started.UnixNano()); got != want {
		t.Errorf("stream span starts at %d, want the stream's start %d", got, want)
	}
	ev := stream.GetEvents()
	if len(ev) != 1 || ev[0].GetName() != EventStreamEnd {
		t.Fatalf("stream span events %v, want one %s", ev, EventStreamEnd)
	}
	attrs := attrMap(ev[0].GetAttributes())
	wantAttrs(t, "stream end", attrs, map[string]string{AttrStreamEndReason: "upstream_ended", AttrStreamMessages: "42"})
	var dur float64
	for _, kv := range ev[0].GetAttributes() {
		if kv.GetKey() == AttrStreamDuration {
			dur = kv.GetValue().GetDoubleValue()
		}
	}
	if dur < 2 || dur > 60 {
		t.Errorf("stream duration %v s, want about 2", dur)
	}
}
