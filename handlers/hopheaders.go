package handlers

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// hopHeaders are the hop-by-hop fields of RFC 9110 §7.6.1, in the order
// net/http/httputil.ReverseProxy removes them. They describe one connection,
// not the message, so a proxy must not forward them. Transfer-Encoding is
// framing: fasthttp writes its own for each side.
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection", // non-standard but still sent by libcurl; rejected by e.g. Google
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",      // canonicalized version of "TE"
	"Trailer", // not Trailers per URL above; https://www.rfc-editor.org/errata_search.php?eid=4522
	"Transfer-Encoding",
	"Upgrade",
}

// maxConnectionTokens bounds the Connection header fields honoured, so a
// hostile header cannot make removal quadratic.
const maxConnectionTokens = 32

// ownHeaders are the fields the gateway itself sets on what it forwards.
// A peer's Connection field may not nominate them for removal (RFC 9110
// §7.6.1 lets a sender list only its own hop-by-hop fields): otherwise
// "Connection: X-Request-Id" would strip the id after the gateway set it.
var ownHeaders = [...]string{
	"X-Request-Id", "X-Real-Ip", "X-Auth-Subject", "Traceparent", "Tracestate",
}

// ownPrefix covers X-Forwarded-For, -Proto, -Host and the relayed
// X-Forwarded-Port and -Prefix.
const ownPrefix = "x-forwarded-"

// isOwnHeader reports whether name (any case) is one the gateway sets.
func isOwnHeader(name []byte) bool {
	if len(name) >= len(ownPrefix) && bytes.EqualFold(name[:len(ownPrefix)], []byte(ownPrefix)) {
		return true
	}
	for _, h := range ownHeaders {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	return false
}

// connectionTokens calls del for each field named in a Connection header
// value, e.g. "keep-alive, X-Foo", except the gateway's own (ownHeaders).
// fasthttp keeps "close" and "keep-alive" as flags, so value holds what the
// peer sent beyond those.
func connectionTokens(value []byte, del func(name []byte)) {
	for n := 0; len(value) > 0 && n < maxConnectionTokens; n++ {
		var tok []byte
		if i := bytes.IndexByte(value, ','); i >= 0 {
			tok, value = value[:i], value[i+1:]
		} else {
			tok, value = value, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !isOwnHeader(tok) {
			del(tok)
		}
	}
}

// removeRequestHops strips hop-by-hop fields from a request bound upstream.
// "TE: trailers" is kept: it announces the client accepts trailers, which
// gRPC needs end to end.
func removeRequestHops(h *fasthttp.RequestHeader) {
	if v := h.Peek(fasthttp.HeaderConnection); len(v) > 0 {
		connectionTokens(v, h.DelBytes)
	}
	keepTE := bytes.EqualFold(bytes.TrimSpace(h.Peek(fasthttp.HeaderTE)), []byte("trailers"))
	for _, name := range hopHeaders {
		h.Del(name)
	}
	h.ResetConnectionClose() // the upstream connection is pooled; the client's wish is honoured on its own connection
	if keepTE {
		h.Set(fasthttp.HeaderTE, "trailers")
	}
}

// removeResponseHops strips hop-by-hop fields from an upstream response
// bound for the client.
func removeResponseHops(h *fasthttp.ResponseHeader) {
	if v := h.Peek(fasthttp.HeaderConnection); len(v) > 0 {
		connectionTokens(v, h.DelBytes)
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	// An upstream's "Connection: close" concerns the upstream connection
	// only (the HostClient has already noted it); the client keeps its own.
	h.ResetConnectionClose()
}
