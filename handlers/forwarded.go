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
// out, read from the client request in. The client's own values are kept
// only when the peer is a trusted proxy (TRUSTED_PROXIES); otherwise a client
// could forge its address or scheme. X-Forwarded-For gets the peer appended,
// as net/http/httputil.ReverseProxy does.
func setForwarded(out *fasthttp.RequestHeader, ctx *fasthttp.RequestCtx, trustedProxies []netip.Prefix) {
	peer := peerAddr(ctx)
	isTrusted := trusted(peer, trustedProxies)
	var buf [256]byte
	b := buf[:0]
	if prior := ctx.Request.Header.Peek("X-Forwarded-For"); isTrusted && len(prior) > 0 {
		b = append(b, prior...)
		b = append(b, ", "...)
	}
	if peer.IsValid() {
		b = peer.AppendTo(b)
		out.SetBytesV("X-Forwarded-For", b)
	} else if len(b) > 0 {
		out.SetBytesV("X-Forwarded-For", b[:len(b)-2])
	} else {
		out.Del("X-Forwarded-For")
	}

	if proto := ctx.Request.Header.Peek("X-Forwarded-Proto"); !isTrusted || len(proto) == 0 {
		if ctx.IsTLS() {
			out.Set("X-Forwarded-Proto", "https")
		} else {
			out.Set("X-Forwarded-Proto", "http")
		}
	}
	if host := ctx.Request.Header.Peek("X-Forwarded-Host"); !isTrusted || len(host) == 0 {
		out.SetBytesV("X-Forwarded-Host", ctx.Request.Header.Host())
	}
}
