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
}

// parseRateKey reads RATE_LIMIT_KEY: "ip" (also ""), "sub" or
// "header:<Name>".
func parseRateKey(spec string, trusted []netip.Prefix) (rateKey, error) {
	k := rateKey{trusted: trusted}
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
	return ClientIP(c, k.trusted).AppendTo(append(dst, "ip:"...))
}
