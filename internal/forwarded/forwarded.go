// Package forwarded decides what the gateway tells an upstream about the
// client behind a request: X-Forwarded-For, -Proto and -Host, and which
// client-sent forwarding fields are believed. The proxy sets these fields
// and the cache keys its entries by them, from this one place, so an answer
// the upstream shaped from them is never served to a client for which the
// gateway would have sent other values.
package forwarded

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// The forwarding fields, in fasthttp's canonical case.
const (
	HeaderFor   = "X-Forwarded-For"
	HeaderProto = "X-Forwarded-Proto"
	HeaderHost  = "X-Forwarded-Host"
)

// relayed are the client-sent forwarding fields the gateway passes on
// without setting them itself; an upstream may build URLs from them (a
// redirect's Location, say), so they key cache entries too.
var relayed = [...]string{"X-Forwarded-Port", "X-Forwarded-Prefix", "Forwarded"}

// Peer returns the address of the connection's remote end, or the zero
// Addr when it is not an IP connection (tests over in-memory listeners).
func Peer(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(ta.IP)
		return a.Unmap()
	}
	return netip.Addr{}
}

// Trusted reports whether a lies in one of the prefixes (TRUSTED_PROXIES).
func Trusted(a netip.Addr, prefixes []netip.Prefix) bool {
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

// Set sets X-Forwarded-For, -Proto and -Host on the upstream request
// header out, a copy of the client request in ctx. The client's own values
// are kept only when the peer is a trusted proxy; otherwise a client could
// forge its address or scheme. Every copy of a replaced field is removed
// first: a header sent twice must not smuggle a second value past the
// replacement. X-Forwarded-For gets the peer appended, as
// net/http/httputil.ReverseProxy does, after all trusted prior values.
func Set(out *fasthttp.RequestHeader, ctx *fasthttp.RequestCtx, trustedProxies []netip.Prefix) {
	in := &ctx.Request.Header
	peer := Peer(ctx)
	isTrusted := Trusted(peer, trustedProxies)
	var buf [256]byte
	b := buf[:0]
	if isTrusted {
		for _, v := range in.PeekAll(HeaderFor) {
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
	out.Del(HeaderFor)
	if len(b) > 0 {
		out.SetBytesV(HeaderFor, b)
	}
	if !isTrusted || len(in.Peek(HeaderProto)) == 0 {
		out.Del(HeaderProto)
		out.Set(HeaderProto, ownProto(ctx))
	}
	if !isTrusted || len(in.Peek(HeaderHost)) == 0 {
		out.Del(HeaderHost)
		out.SetBytesV(HeaderHost, in.Host())
	}
}

// ownProto is the scheme the client used to reach the gateway.
func ownProto(ctx *fasthttp.RequestCtx) string {
	if ctx.IsTLS() {
		return "https"
	}
	return "http"
}

// AppendKey appends to dst the part of a cache key that stands for what Set
// and the relayed fields tell the upstream: the Host the client asked for,
// the X-Forwarded-Proto and -Host values the upstream will receive, and
// the relayed forwarding fields. Two requests whose answers could differ
// only through these get different keys. X-Forwarded-For is left out: it
// names each client, and an answer that depends on it is per client by
// nature (the upstream must say so with Cache-Control: private or Vary).
// Each part is a tag byte, the value's length as a uvarint, then the
// value, so no value (whatever bytes a client puts in it) can imitate
// another part.
func AppendKey(dst []byte, ctx *fasthttp.RequestCtx, trustedProxies []netip.Prefix) []byte {
	in := &ctx.Request.Header
	isTrusted := Trusted(Peer(ctx), trustedProxies)
	dst = appendPart(dst, 'h', in.Host())
	if !isTrusted || len(in.Peek(HeaderProto)) == 0 {
		dst = appendPart(dst, 'p', []byte(ownProto(ctx)))
	} else {
		dst = appendAll(dst, 'p', in, HeaderProto)
	}
	if !isTrusted || len(in.Peek(HeaderHost)) == 0 {
		dst = appendPart(dst, 'f', in.Host())
	} else {
		dst = appendAll(dst, 'f', in, HeaderHost)
	}
	for i, name := range relayed {
		if len(in.Peek(name)) > 0 {
			dst = appendAll(dst, byte('0'+i), in, name)
		}
	}
	return dst
}

// appendPart appends tag, len(v) as a uvarint, and v.
func appendPart(dst []byte, tag byte, v []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// appendAll appends one part holding every value of the field name,
// comma-joined, as RFC 9110 §5.3 combines repeated fields.
func appendAll(dst []byte, tag byte, h *fasthttp.RequestHeader, name string) []byte {
	values := h.PeekAll(name)
	n := max(len(values)-1, 0)
	for _, v := range values {
		n += len(v)
	}
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(n))
	for i, v := range values {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, v...)
	}
	return dst
}
