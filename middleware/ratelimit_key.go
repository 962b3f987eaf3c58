package middleware

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// rateKeyMode says what identifies a client to the rate limiter.
type rateKeyMode uint8

const (
	rateKeyIP     rateKeyMode = iota // ClientIP, honouring TRUSTED_PROXIES
	rateKeySub                       // the JWT subject (Subject)
	rateKeyHeader                    // a request header's value
)

// rateKey builds a request's limiter key from RATE_LIMIT_KEY. Keys carry a
// prefix per kind ("ip:", "sub:", "hdr:"), so a subject spelled like an
// address never shares a count with that address.
type rateKey struct {
	mode    rateKeyMode
	header  string         // for rateKeyHeader
	trusted []netip.Prefix // for ClientIP
	// v6Bits is the prefix length IPv6 clients are keyed by
	// (RATE_LIMIT_IPV6_PREFIX); 0 or 128 keys each address alone.
	v6Bits int
}

// parseRateKey reads RATE_LIMIT_KEY: "ip" (also ""), "sub" or
// "header:<Name>". IPv6 clients are keyed by their first v6Bits bits.
func parseRateKey(spec string, trusted []netip.Prefix, v6Bits int) (rateKey, error) {
	k := rateKey{trusted: trusted, v6Bits: v6Bits}
	switch {
	case spec == "" || spec == "ip":
		k.mode = rateKeyIP
	case spec == "sub":
		k.mode = rateKeySub
	case strings.HasPrefix(spec, "header:") && len(spec) > len("header:"):
		k.mode, k.header = rateKeyHeader, spec[len("header:"):]
	default:
		return k, fmt.Errorf("RATE_LIMIT_KEY %q: want ip, sub or header:<Name>", spec)
	}
	return k, nil
}

// appendKey appends the request's key to dst. A request without the chosen
// identity — no subject (auth off, or a token without sub) or no such header —
// falls back to its client IP, so it is still limited, under the "ip:" prefix.
func (k rateKey) appendKey(dst []byte, c *fiber.Ctx) []byte {
	switch k.mode {
	case rateKeySub:
		if s := Subject(c); s != "" {
			return append(append(dst, "sub:"...), s...)
		}
	case rateKeyHeader:
		if v := c.Request().Header.Peek(k.header); len(v) > 0 {
			return append(append(dst, "hdr:"...), v...)
		}
	}
	return k.appendIP(append(dst, "ip:"...), ClientIP(c, k.trusted))
}

// appendIP appends the key of client address ip: an IPv4 address as it
// is, an IPv6 address as its v6Bits prefix ("2001:db8:1:2::/64"). One
// subscriber is usually given a whole /64 (RFC 6177, RFC 8273) and picks
// any address in it at will (RFC 8981 temporary addresses), so keying each
// address alone would hand one client 2^64 budgets.
func (k rateKey) appendIP(dst []byte, ip netip.Addr) []byte {
	if !ip.Is6() || k.v6Bits <= 0 || k.v6Bits >= 128 {
		return ip.AppendTo(dst)
	}
	p, err := ip.WithZone("").Prefix(k.v6Bits)
	if err != nil {
		return ip.AppendTo(dst)
	}
	return p.AppendTo(dst)
}
