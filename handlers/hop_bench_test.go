package handlers

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkPrepareRequest is the upstream copy of a typical proxied GET
// (no hop-by-hop field), as fasthttp's server parsed it.
//
//	go test -run '^$' -bench PrepareRequest -benchmem ./handlers/
func BenchmarkPrepareRequest(b *testing.B) {
	var ctx fasthttp.RequestCtx
	raw := "GET /api/s/v1/items?id=7 HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: bench/1\r\nAccept: application/json\r\n" +
		"Accept-Encoding: gzip\r\nX-Request-Id: 0123456789abcdef-1\r\n\r\n"
	if err := ctx.Request.Header.Read(bufioReader(raw)); err != nil {
		b.Fatal(err)
	}
	var req fasthttp.Request
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		prepareRequest(&req, &ctx, nil, nil)
	}
}
