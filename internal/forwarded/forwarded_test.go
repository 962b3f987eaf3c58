package forwarded

import (
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

// requestCtx is a request from peer with the given header fields.
func requestCtx(peer string, fields ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("/api/s/x")
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Add(fields[i], fields[i+1])
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(peer), Port: 1234}, nil)
	return ctx
}

func TestAppendKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	key := func(ctx *fasthttp.RequestCtx) string { return string(AppendKey(nil, ctx, trusted)) }
	base := key(requestCtx("192.0.2.1", "Host", "gw"))
	tests := []struct {
		name string
		ctx  *fasthttp.RequestCtx
		same bool
	}{
		{"another client, same origin", requestCtx("192.0.2.2", "Host", "gw", "X-Forwarded-For", "6.6.6.6"), true},
		{"untrusted forwarded host is replaced, so ignored", requestCtx("192.0.2.2", "Host", "gw", "X-Forwarded-Host", "evil"), true},
		{"untrusted forwarded proto is replaced, so ignored", requestCtx("192.0.2.2", "Host", "gw", "X-Forwarded-Proto", "https"), true},
		{"another Host", requestCtx("192.0.2.1", "Host", "evil"), false},
		{"a Host imitating the next part", requestCtx("192.0.2.1", "Host", "gw\x00p\x04http"), false},
		{"trusted forwarded host", requestCtx("10.1.1.1", "Host", "gw", "X-Forwarded-Host", "evil"), false},
		{"trusted forwarded proto", requestCtx("10.1.1.1", "Host", "gw", "X-Forwarded-Proto", "https"), false},
		{"relayed prefix", requestCtx("192.0.2.1", "Host", "gw", "X-Forwarded-Prefix", "/evil"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := key(tt.ctx) == base; got != tt.same {
				t.Errorf("key equal to base = %v, want %v (%q vs %q)", got, tt.same, key(tt.ctx), base)
			}
		})
	}
}
