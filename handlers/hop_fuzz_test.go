package handlers

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzHopHeaders feeds header blocks, Connection tokens included, through
// fasthttp's parser and the proxy's hop-by-hop removal: it never panics,
// leaves no hop-by-hop field (RFC 9110 §7.6.1) and none that Connection
// named, and scanSent never reports a block free of hop-by-hop fields when
// the parsed header holds one.
func FuzzHopHeaders(f *testing.F) {
	f.Add("Connection: keep-alive, X-Foo\r\nX-Foo: 1\r\nKeep-Alive: 5\r\n")
	f.Add("Connection: , ,,X-A ,\tX-B\r\nX-A: a\r\nX-B: b\r\nTE: trailers\r\n")
	f.Add("connection: upgrade\r\nupgrade: websocket\r\nProxy-Connection: x\r\n")
	f.Add("Te: gzip\r\nTrailer: X\r\nTransfer-Encoding: chunked\r\n")
	f.Add("X-Folded: a\r\n b\r\nConnection: X-Folded\r\n")
	f.Fuzz(func(t *testing.T, block string) {
		var h fasthttp.RequestHeader
		raw := "GET / HTTP/1.1\r\nHost: gw\r\n" + block + "\r\n\r\n"
		if err := h.Read(bufio.NewReader(bytes.NewBufferString(raw))); err != nil {
			return // refused before the proxy sees it
		}
		sent := scanSent(h.RawHeaders())
		var named [][]byte
		connectionTokens(h.Peek(fasthttp.HeaderConnection), func(name []byte) {
			named = append(named, append([]byte(nil), name...))
		})
		hadHop := false
		for _, name := range hopHeaders {
			hadHop = hadHop || len(h.Peek(name)) > 0
		}
		if hadHop && sent&sentHop == 0 {
			t.Fatalf("scanSent missed a hop-by-hop field in %q", h.RawHeaders())
		}
		removeRequestHops(&h)
		for _, name := range hopHeaders {
			if v := h.Peek(name); len(v) > 0 && !(name == "Te" && string(v) == "trailers") {
				t.Fatalf("%s: %q left after removal", name, v)
			}
		}
		for _, name := range named {
			if v := h.PeekBytes(name); len(v) > 0 && !bytes.EqualFold(name, []byte("te")) {
				t.Fatalf("Connection named %q, still %q", name, v)
			}
		}
	})
}
