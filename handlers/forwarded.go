package handlers

import (
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// peerAddr returns the address of the connection's remote end, or the zero
// Addr when it is not an IP connection (tests over in-memory listeners).
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(ta.IP)
		return a.Unmap()
	}
	return netip.Addr{}
}

// trusted reports whether a lies in one of the prefixes.
func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setForwarded sets X-Forwarded-For, -Proto and -Host on the upstream request
// out, a copy of the client request in ctx. The client's own values are
// kept only when the peer is a trusted proxy (TRUSTED_PROXIES); otherwise a
// client could forge its address or scheme. Every copy of a replaced field
// is removed first: a header sent twice must not smuggle a second value
// past the replacement. X-Forwarded-For gets the peer appended, as
// net/http/httputil.ReverseProxy does, after all trusted prior values.
func setForwarded(out *fasthttp.RequestHeader, ctx *fasthttp.RequestCtx, trustedProxies []netip.Prefix) {
	in := &ctx.Request.Header
	peer := peerAddr(ctx)
	isTrusted := trusted(peer, trustedProxies)
	var buf [256]byte
	b := buf[:0]
	if isTrusted {
		for _, v := range in.PeekAll(headerXFF) {
			if len(v) > 0 {
				b = append(b, v...)
				b = append(b, ", "...)
			}
		}
	}
	if peer.IsValid() {
		b = peer.AppendTo(b)
	} else if len(b) > 0 {
		b = b[:len(b)-2]
	}
	out.Del(headerXFF)
	if len(b) > 0 {
		out.SetBytesV(headerXFF, b)
	}

	if !isTrusted || len(in.Peek(headerXFProto)) == 0 {
		out.Del(headerXFProto)
		if ctx.IsTLS() {
			out.Set(headerXFProto, "https")
		} else {
			out.Set(headerXFProto, "http")
		}
	}
	if !isTrusted || len(in.Peek(headerXFHost)) == 0 {
		out.Del(headerXFHost)
		out.SetBytesV(headerXFHost, in.Host())
	}
}

// The forwarding headers, in fasthttp's canonical case.
const (
	headerXFF     = "X-Forwarded-For"
	headerXFProto = "X-Forwarded-Proto"
	headerXFHost  = "X-Forwarded-Host"
)
