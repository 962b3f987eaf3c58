package middleware

import (
	"bytes"
	"net/netip"
	"sort"

	"github.com/valyala/fasthttp"

	"gateway/internal/forwarded"
)

// cacheKeyBuf builds a cache key without allocating: it is pooled by the
// Cache and reused across requests.
//
// A key is the raw request URI as the client sent it (service, path and
// query, before any decoding, so two URIs the proxy could treat differently
// never share an entry), then "\x00s=" and the subject for private entries,
// then the origin part (forwarded.AppendKey: the Host asked for and the
// forwarding values the upstream receives), then for each header the
// response's Vary names "\x00name=value".
type cacheKeyBuf struct {
	b    []byte
	base int // len(b) after the URI and subject: the per-URL part
}

// reset starts a key for a request URI and an optional subject.
func (k *cacheKeyBuf) reset(uri []byte, subject string) {
	k.b = append(k.b[:0], uri...)
	if subject != "" {
		k.b = append(k.b, "\x00s="...)
		k.b = append(k.b, subject...)
	}
	k.base = len(k.b)
}

// addOrigin appends the origin part of the key for the request in ctx, as
// the proxy would forward it given the trusted proxies, and makes it part of
// the per-URL key: an answer shaped by the Host a client asked for (a page
// with absolute links, a redirect to that host) is only ever served to a
// client for which the upstream would have been told the same.
func (k *cacheKeyBuf) addOrigin(ctx *fasthttp.RequestCtx, trusted []netip.Prefix) {
	k.b = forwarded.AppendKey(k.b, ctx, trusted)
	k.base = len(k.b)
}

// toBase drops any Vary part, leaving the per-URL key.
func (k *cacheKeyBuf) toBase() { k.b = k.b[:k.base] }

// withVary makes the key the variant of the base key selected by the
// request headers named in vary (lowercase, sorted). Every value of a
// repeated header is included, comma-joined, as RFC 9110 §5.3 combines them.
func (k *cacheKeyBuf) withVary(vary []string, h *fasthttp.RequestHeader) {
	k.b = k.b[:k.base]
	for _, name := range vary {
		k.b = append(k.b, 0)
		k.b = append(k.b, name...)
		k.b = append(k.b, '=')
		for i, v := range h.PeekAll(name) {
			if i > 0 {
				k.b = append(k.b, ',')
			}
			k.b = append(k.b, v...)
		}
	}
}

// parseVary returns the field names in a response's Vary headers,
// lowercased, sorted and without duplicates, so equivalent Vary lists give
// equal keys. star reports "Vary: *", which no request can match.
func parseVary(h *fasthttp.ResponseHeader) (names []string, star bool) {
	for _, v := range h.PeekAll(fasthttp.HeaderVary) {
		for _, tok := range bytes.Split(v, []byte(",")) {
			tok = bytes.TrimSpace(tok)
			switch {
			case len(tok) == 0:
			case len(tok) == 1 && tok[0] == '*':
				return nil, true
			default:
				names = append(names, string(bytes.ToLower(tok)))
			}
		}
	}
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out, false
}
