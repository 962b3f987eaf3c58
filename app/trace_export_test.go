package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"gateway/config"
	"gateway/internal/gatewaytest"
	"gateway/internal/otlptest"
)

// startCollector starts an OTLP/HTTP receiver on loopback and points cfg's
// OTEL_EXPORTER_OTLP_ENDPOINT at it.
func startCollector(t *testing.T, cfg *config.Config) *otlptest.Receiver {
	t.Helper()
	r := &otlptest.Receiver{}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	cfg.OTelEndpoint = srv.URL
	return r
}

// spansOf waits for want spans of trace to arrive and returns them by kind.
func spansOf(t *testing.T, r *otlptest.Receiver, trace string, want int) map[tracepb.Span_SpanKind][]otlptest.Span {
	t.Helper()
	var got []otlptest.Span
	_, ok := r.Wait(10*time.Second, func(all []otlptest.Span) bool {
		got = got[:0]
		for _, s := range all {
			if s.TraceID == trace {
				got = append(got, s)
			}
		}
		return len(got) >= want
	})
	if !ok {
		t.Fatalf("%d spans of trace %s arrived, want %d: %+v", len(got), trace, want, got)
	}
	by := map[tracepb.Span_SpanKind][]otlptest.Span{}
	for _, s := range got {
		by[s.Kind] = append(by[s.Kind], s)
	}
	return by
}

// wantSpanAttrs checks that s has every attribute of want.
func wantSpanAttrs(t *testing.T, s otlptest.Span, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if s.Attrs[k] != v {
			t.Errorf("%s span %q: %s = %q, want %q (all: %v)", s.Kind, s.Name, k, s.Attrs[k], v, s.Attrs)
		}
	}
}

// TestExportAPI: with OTEL_EXPORTER_OTLP_ENDPOINT set, a proxied request
// exports a server span continuing the client's trace (its parent the
// client's span) and a client span under it, which is the parent the
// upstream hears of, with the HTTP semantic conventions' attributes.
func TestExportAPI(t *testing.T) {
	up := startTraceUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	col := startCollector(t, cfg)
	gw := gatewaytest.Start(t, cfg)

	req, _ := http.NewRequest("GET", gw.URL+"/api/s/items?x=1", nil)
	req.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientParent+"-01")
	req.Header.Set("User-Agent", "trace-test/1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	upParent, _ := up.last(t)

	by := spansOf(t, col, clientTrace, 2)
	if len(by[tracepb.Span_SPAN_KIND_SERVER]) != 1 || len(by[tracepb.Span_SPAN_KIND_CLIENT]) != 1 {
		t.Fatalf("spans by kind %v, want one server and one client span", by)
	}
	server, client := by[tracepb.Span_SPAN_KIND_SERVER][0], by[tracepb.Span_SPAN_KIND_CLIENT][0]
	if server.ParentSpanID != clientParent {
		t.Fatalf("server span's parent %q, want the client's span %s", server.ParentSpanID, clientParent)
	}
	if client.ParentSpanID != server.SpanID {
		t.Fatalf("client span's parent %q, want the server span %s", client.ParentSpanID, server.SpanID)
	}
	if want := "00-" + clientTrace + "-" + client.SpanID + "-01"; upParent != want {
		t.Fatalf("upstream traceparent %q, want %q (the client span as parent)", upParent, want)
	}
	if server.Name != "GET /api/:service/*" {
		t.Errorf("server span name %q", server.Name)
	}
	wantSpanAttrs(t, server, map[string]string{
		"http.request.method":       "GET",
		"url.path":                  "/api/s/items",
		"http.route":                "/api/:service/*",
		"http.response.status_code": "200",
		"client.address":            "127.0.0.1",
		"user_agent.original":       "trace-test/1",
	})
	u, _ := url.Parse(up.URL)
	wantSpanAttrs(t, client, map[string]string{
		"http.request.method":       "GET",
		"server.address":            "127.0.0.1",
		"server.port":               u.Port(),
		"network.peer.address":      "127.0.0.1",
		"http.response.status_code": "200",
	})
	if _, ok := client.Attrs["http.request.resend_count"]; ok {
		t.Errorf("first attempt has a resend count: %v", client.Attrs)
	}
}

// TestExportUpstreamDown: an upstream that cannot be reached fails the
// attempt's client span and the 502's server span, both with the
// gateway's error message, the one its JSON body carries.
func TestExportUpstreamDown(t *testing.T) {
	cfg := gatewaytest.Config(map[string][]string{"s": {gatewaytest.DeadURL(t)}})
	col := startCollector(t, cfg)
	gw := gatewaytest.Start(t, cfg)
	req, _ := http.NewRequest("GET", gw.URL+"/api/s/items", nil)
	req.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientParent+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	by := spansOf(t, col, clientTrace, 2)
	for _, kind := range []tracepb.Span_SpanKind{tracepb.Span_SPAN_KIND_SERVER, tracepb.Span_SPAN_KIND_CLIENT} {
		if len(by[kind]) == 0 {
			t.Fatalf("no %s span: %v", kind, by)
		}
		s := by[kind][0]
		if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() == "" ||
			!strings.Contains(string(body), `"error":"`+s.Status.GetMessage()+`"`) {
			t.Fatalf("%s span status %v, want an error with the message of %s", kind, s.Status, body)
		}
	}
	wantSpanAttrs(t, by[tracepb.Span_SPAN_KIND_SERVER][0], map[string]string{"http.response.status_code": "502"})
}

// TestExportCollectorDown: a collector that cannot be reached costs the
// client nothing: every request is answered, /metrics reports the lost
// spans' counter, and Shutdown keeps its budget.
func TestExportCollectorDown(t *testing.T) {
	up := startTraceUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.OTelEndpoint = gatewaytest.DeadURL(t)
	gw, served := gatewaytest.Serve(t, cfg)
	for range 50 {
		resp, err := http.Get(gw.URL + "/api/s/items")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d with the collector down", resp.StatusCode)
		}
	}
	fams := gatewaytest.Scrape(t, gw.URL)
	if f := fams["gateway_trace_spans_lost_total"]; f == nil || len(f.GetMetric()) != 2 {
		t.Fatalf("gateway_trace_spans_lost_total = %v, want the dropped and failed series", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = gw.App.Shutdown(ctx)
	<-served
}
