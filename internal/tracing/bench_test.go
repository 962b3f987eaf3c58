package tracing

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkOff is one proxied request's tracing calls with export off
// (nil *Tracer): the price every request pays when OTEL_* is unset. The
// W3C trace context itself is package tracecontext's BenchmarkPerRequest.
func BenchmarkOff(b *testing.B) {
	var tr *Tracer
	req, tc := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	client := netip.MustParseAddr("192.0.2.7")
	peer := net.Addr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9001})
	b.ReportAllocs()
	for b.Loop() {
		offRequest(tr, &tc, req, client, peer)
	}
}

// BenchmarkOn is one proxied request's server and client spans with export
// on at 100% sampling, to a real OTLP/HTTP receiver on loopback: the
// request path's share (building the spans and queueing them; the export
// itself runs on the batch processor's goroutine, which competes for the
// same CPUs). Spans the queue could not take are reported as dropped/op:
// dropping is cheaper than queueing, so a run with drops flatters ns/op.
func BenchmarkOn(b *testing.B) {
	rcv := newHTTPReceiver(b, false)
	tr := newTestTracer(b, Options{Endpoint: rcv.URL + "/v1/traces", MaxQueue: 1 << 16, BatchTimeout: 100 * time.Millisecond})
	req, tc := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	client := netip.MustParseAddr("192.0.2.7")
	peer := net.Addr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9001})
	b.ReportAllocs()
	for b.Loop() {
		srv := tr.StartServer(&tc, req, apiRoute, client)
		cli, _ := srv.StartClient(&tc, Attempt{Host: "users.internal", Port: 9001})
		cli.SetPeer(peer)
		cli.End(200)
		srv.End(200)
	}
	b.ReportMetric(float64(tr.Stats().Dropped)/float64(b.N), "dropped/op")
}
