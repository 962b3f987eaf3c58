package handlers

import "time"

// The client side of a relayed stream is written by the gateway itself,
// not by fasthttp's response writer (see SSE): these are its framing
// (RFC 9112 §7.1 chunked transfer coding) and its one timeout.

// clientWriteTimeout bounds one write to a stream's client. A client that
// accepts nothing for this long (its receive window full, or gone without
// a word) is dropped, so it cannot hold its stream, its upstream
// connection and the gateway's shutdown forever. nginx's send_timeout
// (60 s) plays the same part.
const clientWriteTimeout = 30 * time.Second

// Fixed chunks. A heartbeat is one SSE comment line, which clients ignore
// (WHATWG HTML §9.2.6); with no blank line after it, it does not end an
// event it falls within.
const (
	heartbeatLine  = ":\n"
	heartbeatChunk = "2\r\n" + heartbeatLine + "\r\n"
	lastChunk      = "0\r\n\r\n"
)

// relayBufferSize is the size of the buffer one stream's upstream bytes are
// copied through, framing included; a chunk is relayed as soon as it is
// read, however small.
const relayBufferSize = 4096

// chunkHeadRoom is the room a relayBuffer keeps before its payload for the
// chunk-size line: up to 3 hex digits (the payload is under 4 KiB) and
// CRLF.
const chunkHeadRoom = 5

// relayBuffer holds one relayed chunk: its payload is read in after
// chunkHeadRoom bytes, then framed in place, so a chunk goes to the client
// in one write.
type relayBuffer [relayBufferSize]byte

// payload returns the part the upstream's bytes are read into.
func (b *relayBuffer) payload() []byte { return b[chunkHeadRoom : relayBufferSize-2] }

// frame returns the n payload bytes framed as a chunk, or bare when
// identity (an HTTP/1.0 client, whose body ends at the close).
func (b *relayBuffer) frame(n int, identity bool) []byte {
	if identity {
		return b[chunkHeadRoom : chunkHeadRoom+n]
	}
	start := chunkHeadRoom - 2
	b[start], b[start+1] = '\r', '\n'
	for v := n; ; v >>= 4 {
		start--
		b[start] = "0123456789abcdef"[v&0xf]
		if v < 16 {
			break
		}
	}
	end := chunkHeadRoom + n
	b[end], b[end+1] = '\r', '\n'
	return b[start : end+2]
}
