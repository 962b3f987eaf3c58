package middleware

import (
	"bytes"
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// ClientIP returns the address of the client behind the request, honouring
// TRUSTED_PROXIES (cfg.TrustedProxies):
//
//   - When the direct peer is not in trusted (or trusted is empty), it is the
//     peer address: X-Forwarded-For from an untrusted peer is the client's own
//     claim and is ignored.
//   - When the peer is trusted, it is the rightmost X-Forwarded-For address
//     that is not itself trusted. Each trusted hop appended the address it saw,
//     so that is the first address no trusted party merely relayed; anything to
//     its left was written by the client and could be forged.
//   - If every listed address is trusted, it is the leftmost one; if an entry
//     does not parse, it is the last trusted address seen before it (garbage
//     must not let a client pick its own key).
//
// Several X-Forwarded-For header lines are read as one list, in order.
// IPv4-mapped IPv6 addresses are unmapped, so 1.2.3.4 and ::ffff:1.2.3.4 are
// one client. ClientIP does not allocate; the result is a value.
func ClientIP(c *fiber.Ctx, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(c.Context())
	if !isTrusted(peer, trusted) {
		return peer
	}
	return forwardedClient(c.Request().Header.PeekAll(fiber.HeaderXForwardedFor), peer, trusted)
}

// peerAddr is the address of the connection's remote end; the unspecified
// IPv4 address when the connection is not TCP (as under app.Test).
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return netip.IPv4Unspecified()
	}
	return a.Unmap()
}

// isTrusted reports whether a lies in one of the trusted prefixes.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient walks the X-Forwarded-For values right to left, as
// described on ClientIP. last starts as the (trusted) peer.
func forwardedClient(values [][]byte, last netip.Addr, trusted []netip.Prefix) netip.Addr {
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for len(v) > 0 {
			field := v
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				field, v = v[j+1:], v[:j]
			} else {
				v = nil
			}
			field = bytes.TrimSpace(field)
			if len(field) == 0 {
				continue
			}
			a, ok := parseForwardedAddr(field)
			if !ok {
				return last
			}
			if !isTrusted(a, trusted) {
				return a
			}
			last = a
		}
	}
	return last
}

// parseForwardedAddr parses one X-Forwarded-For entry: an address, or an
// address with a port ("1.2.3.4:80", "[::1]:80"), which some proxies write.
// Zoned addresses are refused: they mean nothing off the host and netip
// would keep a copy of the zone. The unsafe string never outlives the call.
func parseForwardedAddr(b []byte) (netip.Addr, bool) {
	if bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	s := utils.UnsafeString(b)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
