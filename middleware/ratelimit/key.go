package ratelimit

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"gateway/middleware"
)

// keyMode says what identifies a client to the rate limiter.
type keyMode uint8

const (
	keyIP     keyMode = iota // ClientIP, honouring TRUSTED_PROXIES
	keySub                   // the JWT subject (Subject)
	keyHeader                // a request header's value
)

// clientKey builds a request's limiter key from RATE_LIMIT_KEY. Keys carry a
// prefix per kind ("ip:", "sub:", "hdr:"), so a subject spelled like an
// address never shares a count with that address.
type clientKey struct {
	mode    keyMode
	header  string         // for keyHeader
	trusted []netip.Prefix // for ClientIP
	// subject reads the JWT subject for keySub (middleware.Subject).
	subject func(*fiber.Ctx) string
	// v6Bits is the prefix length IPv6 clients are keyed by
	// (RATE_LIMIT_IPV6_PREFIX); 0 or 128 keys each address alone.
	v6Bits int
}

// parseClientKey reads RATE_LIMIT_KEY: "ip" (also ""), "sub" or
// "header:<Name>". IPv6 clients are keyed by their first v6Bits bits.
func parseClientKey(spec string, trusted []netip.Prefix, v6Bits int) (clientKey, error) {
	k := clientKey{trusted: trusted, v6Bits: v6Bits, subject: middleware.Subject}
	switch {
	case spec == "" || spec == "ip":
		k.mode = keyIP
	case spec == "sub":
		k.mode = keySub
	case strings.HasPrefix(spec, "header:") && len(spec) > len("header:"):
		k.mode, k.header = keyHeader, spec[len("header:"):]
	default:
		return k, fmt.Errorf("RATE_LIMIT_KEY %q: want ip, sub or header:<Name>", spec)
	}
	return k, nil
}

// appendKey appends the request's key to dst. A request without the chosen
// identity — no subject (auth off, or a token without sub) or no such header —
// falls back to its client IP, so it is still limited, under the "ip:" prefix.
func (k clientKey) appendKey(dst []byte, c *fiber.Ctx) []byte {
	switch k.mode {
	case keySub:
		if s := k.subject(c); s != "" {
			return append(append(dst, "sub:"...), s...)
		}
	case keyHeader:
		if v := c.Request().Header.Peek(k.header); len(v) > 0 {
			return append(append(dst, "hdr:"...), v...)
		}
	}
	return k.appendIP(append(dst, "ip:"...), middleware.ClientIP(c, k.trusted))
}

// appendIP appends the key of client address ip: an IPv4 address as it
// is, an IPv6 address as its v6Bits prefix ("2001:db8:1:2::/64"). One
// subscriber is usually given a whole /64 (RFC 6177, RFC 8273) and picks
// any address in it at will (RFC 8981 temporary addresses), so keying each
// address alone would hand one client 2^64 budgets.
func (k clientKey) appendIP(dst []byte, ip netip.Addr) []byte {
	if !ip.Is6() || k.v6Bits <= 0 || k.v6Bits >= 128 {
		return ip.AppendTo(dst)
	}
	p, err := ip.WithZone("").Prefix(k.v6Bits)
	if err != nil {
		return ip.AppendTo(dst)
	}
	return p.AppendTo(dst)
}
