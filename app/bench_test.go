package app_test

import (
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"gateway/app"
	"gateway/internal/gatewaytest"
)

// BenchmarkProxyGET measures the gateway's in-process cost of one proxied
// GET: a fasthttp client → the gateway (app.New, served on an in-memory
// listener) → a fasthttp upstream on another in-memory listener. Access
// logging is off (LOG_LEVEL=warn) so the figure is the proxy path itself.
//
//	go test -run '^$' -bench ProxyGET -benchmem ./app/
func BenchmarkProxyGET(b *testing.B) {
	upLn := benchUpstream(b)

	// The pool dials "127.0.0.1:1"; the benchmark swaps its HostClient's
	// dialer for the in-memory listener so no socket noise enters the figure.
	cfg := gatewaytest.Config(map[string][]string{"s": {"http://127.0.0.1:1"}})
	cfg.LogLevel = "warn"
	gw, err := app.New(cfg, app.Options{Logger: app.NewLogger(io.Discard, "warn", "json")})
	if err != nil {
		b.Fatal(err)
	}
	for _, svc := range gw.Pool().Services() {
		for _, u := range svc.Upstreams() {
			u.Client().Dial = func(string) (net.Conn, error) { return upLn.Dial() }
		}
	}
	gwLn := fasthttputil.NewInmemoryListener()
	go gw.Listener(gwLn) //nolint:errcheck
	defer gwLn.Close()

	runClient(b, gwLn)
}

// BenchmarkDirectGET is the baseline for BenchmarkProxyGET: the same client
// and upstream with no gateway between. Its allocations belong to the
// benchmark's own client and upstream; the gateway's are the difference.
func BenchmarkDirectGET(b *testing.B) {
	upLn := benchUpstream(b)
	runClient(b, upLn)
}

// runClient sends GETs in parallel through ln until b.N are done.
func runClient(b *testing.B, ln *fasthttputil.InmemoryListener) {
	client := &fasthttp.HostClient{Addr: "gateway", Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConns: 64}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://gateway/api/s/v1/items?id=7")
		for pb.Next() {
			if err := client.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 {
				b.Errorf("status %d", resp.StatusCode())
				return
			}
		}
	})
}

// benchUpstream serves a small JSON answer on an in-memory listener until
// the benchmark ends.
func benchUpstream(b *testing.B) *fasthttputil.InmemoryListener {
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go up.Serve(ln) //nolint:errcheck
	b.Cleanup(func() { ln.Close() })
	return ln
}
