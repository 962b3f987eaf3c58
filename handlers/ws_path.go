package handlers

import (
	"bytes"
	"net/url"
	"strings"

	"gateway/internal/pct"
	"gateway/middleware"
)

// Query parameters of GET /ws/:service that are the gateway's own and are
// not forwarded upstream.
const (
	wsPathParam  = "path"         // the upstream path
	wsTokenParam = "access_token" // a JWT for browsers, which cannot set Authorization on a WebSocket
)

// validWSPath reports whether p, the decoded value of the path query
// parameter, may be sent upstream as a request path (issue 3). It must start
// with exactly one "/", so that appended to the upstream's scheme://host it
// can never name another host ("//evil", "http://x", "@evil" all fail
// here), and it must not hold:
//   - a raw or encoded backslash or slash trick, or a dot segment
//     (middleware.SafePath, the rule /api paths follow);
//   - "@", the userinfo separator of "http://good@evil" tricks, which no
//     WebSocket endpoint path needs;
//   - "?" or "#": the upstream query is built from the other query
//     parameters, and WebSocket URIs have no fragment (RFC 6455 §3);
//   - control characters, raw or percent-encoded, or a malformed escape.
//
// The empty string is not valid; the caller substitutes "/" for a missing
// or empty parameter.
func validWSPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' || (len(p) > 1 && p[1] == '/') {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case b < 0x20 || b == 0x7f, b == '@', b == '?', b == '#':
			return false
		case b == '%':
			if i+2 >= len(p) || !pct.IsHex(p[i+1]) || !pct.IsHex(p[i+2]) {
				return false
			}
			if v := pct.Unhex(p[i+1])<<4 | pct.Unhex(p[i+2]); v < 0x20 || v == 0x7f {
				return false
			}
		}
	}
	return middleware.SafePath(p)
}

// validWSQuery reports whether the raw query forwarded upstream is free of
// bytes a request line cannot carry: controls, space, DEL, '#'.
func validWSQuery(q []byte) bool {
	for _, b := range q {
		if b <= ' ' || b == 0x7f || b == '#' {
			return false
		}
	}
	return true
}

// appendWSTarget appends the upstream URL of a bridge to dst:
// ws://host[:port] (wss for an https upstream), the upstream's base path,
// p (already checked by validWSPath) with any byte a URI path cannot carry
// raw (space, non-ASCII, quotes, braces...) percent-encoded, and the raw
// query when not empty. The host comes from the upstream alone; p can only
// extend its path, and the upstream's request line carries exactly these
// bytes.
func appendWSTarget(dst []byte, base *url.URL, basePath string, p, query []byte) []byte {
	if base.Scheme == "https" {
		dst = append(dst, "wss://"...)
	} else {
		dst = append(dst, "ws://"...)
	}
	dst = append(dst, base.Host...)
	dst = append(dst, basePath...)
	for _, b := range p {
		if isPathByte(b) {
			dst = append(dst, b)
		} else {
			dst = append(dst, '%', upperHex[b>>4], upperHex[b&15])
		}
	}
	if len(query) > 0 {
		dst = append(dst, '?')
		dst = append(dst, query...)
	}
	return dst
}

// appendForwardedQuery appends to dst the pairs of the raw query q except
// the gateway's own (path, access_token), keeping the others' bytes and
// order. Empty pairs are dropped.
func appendForwardedQuery(dst, q []byte) []byte {
	start := len(dst)
	for len(q) > 0 {
		pair := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		if len(pair) == 0 || queryKeyIn(pair, wsPathParam, wsTokenParam) {
			continue
		}
		if len(dst) > start {
			dst = append(dst, '&')
		}
		dst = append(dst, pair...)
	}
	return dst
}

// queryKeyIn reports whether the key of pair (up to '=') decodes to one of
// names, decoding as fasthttp's Args does (%XX, '+' as space), so that
// "p%61th=//evil" is recognised as path.
func queryKeyIn(pair []byte, names ...string) bool {
	for _, n := range names {
		if pct.QueryKeyIs(pair, n) {
			return true
		}
	}
	return false
}

// upperHex are the digits of percent-encoding (RFC 3986 §2.1 prefers upper case).
const upperHex = "0123456789ABCDEF"

// isPathByte reports whether b may appear raw in a URI path: RFC 3986 §3.3
// pchar without "@" (which validWSPath refuses raw anyway), plus "/" and
// the "%" of an escape.
func isPathByte(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:/%", b) >= 0
}
