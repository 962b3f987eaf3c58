package handlers

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"gateway/apierror"
)

// maxEarlyBytes bounds what a client may send between its handshake and our
// 101 that is kept for the bridge (fasthttp's read buffer holds at most
// MAX_HEADER_BYTES of it anyway).
const maxEarlyBytes = 64 << 10

// checkUpgrade returns the error answer for a request that is not a valid
// WebSocket opening handshake (RFC 6455 §4.2.1), or 0. It runs before any
// upstream is dialled, and checks all that the upgrader will, so that an
// upgrade never fails after the upstream has accepted.
func checkUpgrade(c *fiber.Ctx) (int, string) {
	ctx := c.Context()
	h := &ctx.Request.Header
	switch {
	case !websocket.FastHTTPIsWebSocketUpgrade(ctx):
		c.Set(fiber.HeaderUpgrade, "websocket")
		c.Set(fiber.HeaderConnection, "Upgrade")
		return fiber.StatusUpgradeRequired, msgWSUpgradeRequired
	case string(h.Peek("Sec-WebSocket-Version")) != "13":
		c.Set("Sec-WebSocket-Version", "13") // RFC 6455 §4.4
		return fiber.StatusUpgradeRequired, msgWSUpgradeRequired
	case !validChallengeKey(h.Peek("Sec-WebSocket-Key")):
		return fiber.StatusBadRequest, msgWSUpgradeRequired
	}
	return 0, ""
}

// validChallengeKey reports whether key is the base64 of 16 bytes.
func validChallengeKey(key []byte) bool {
	var dec [18]byte
	n, err := base64.StdEncoding.Decode(dec[:], key)
	return err == nil && n == 16 && len(key) == 24
}

// clientHandshake is what the client upgrade needs from the request once
// fasthttp has reused it: the opening handshake and the 101's extra fields.
type clientHandshake struct {
	req    *http.Request
	header http.Header // Sec-WebSocket-Protocol, Set-Cookie, X-Request-Id
}

// hijack makes fasthttp hand the client connection to the bridge once this
// handler returns, writing no response itself: the upgrader writes the 101.
// The status is set for the access log only.
func (w *WSBridge) hijack(c *fiber.Ctx, p *pendingBridge) {
	ctx := c.Context()
	p.client.req = &http.Request{
		Method: http.MethodGet,
		Header: http.Header{
			"Connection":            {"Upgrade"},
			"Upgrade":               {"websocket"},
			"Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key":     {string(ctx.Request.Header.Peek("Sec-WebSocket-Key"))},
		},
	}
	p.client.header.Set(apierror.HeaderRequestID, string(ctx.Request.Header.Peek(apierror.HeaderRequestID)))
	c.Status(fiber.StatusSwitchingProtocols)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(conn net.Conn) { w.upgradeClient(conn, p) })
}

// upgradeClient runs on fasthttp's hijack goroutine: it writes the 101 on
// the bare client socket, starts the bridge, and returns, so the goroutine
// and the request context are released (KeepHijackedConns).
//
// The upgrader is fasthttp/websocket's net/http one, given the socket
// itself (rawResponse), rather than gofiber/contrib/websocket's upgrader,
// which would read the connection through fasthttp's per-connection read
// buffer (MAX_HEADER_BYTES, 16 KiB) for the bridge's whole life: more than
// the rest of an idle bridge together (issue 3 budget: 16 KiB per bridge).
func (w *WSBridge) upgradeClient(conn net.Conn, p *pendingBridge) {
	if !p.claim() {
		_ = conn.Close() // the hand-off timed out; the upstream side is gone
		return
	}
	raw, early, err := unwrapHijacked(conn)
	if err != nil {
		_ = conn.Close()
		p.finishUnused()
		return
	}
	// The library's connection is dropped: frames are read and written on
	// the socket by the bridge.
	if _, err := w.upgrader.Upgrade(&rawResponse{conn: raw}, p.client.req, p.client.header); err != nil {
		_ = raw.Close()
		p.finishUnused()
		return
	}
	newBridge(w, raw, early, p).start()
}

// unsafeConn is implemented by fasthttp's hijacked connection wrapper.
type unsafeConn interface{ UnsafeConn() net.Conn }

// unwrapHijacked returns the socket under fasthttp's hijacked connection,
// so that reads skip fasthttp's read buffer, and the bytes the client sent
// after its handshake without waiting for the 101 (which RFC 6455 §4.1
// forbids, but a client may do): they are already in that buffer, and are
// taken with reads that cannot block (the deadline has passed).
func unwrapHijacked(c net.Conn) (net.Conn, []byte, error) {
	uc, ok := c.(unsafeConn)
	if !ok {
		return c, nil, nil
	}
	raw := uc.UnsafeConn()
	if err := raw.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, nil, err
	}
	var early []byte
	var buf [512]byte
	for {
		n, err := c.Read(buf[:])
		early = append(early, buf[:n]...)
		if len(early) > maxEarlyBytes {
			return nil, nil, errors.New("client sent too much before the handshake completed")
		}
		if err != nil {
			if !isNetTimeout(err) {
				return nil, nil, err
			}
			break
		}
	}
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	return raw, early, nil
}

// prefixedConn is a connection whose first reads return prefix.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// rawResponse is the http.ResponseWriter through which websocket.Upgrader
// takes the client socket: Hijack hands it over with empty, tiny buffers
// (the upgrader then uses its own). Checks made before dialling mean the
// upgrader should never answer an error; if it does, the socket gets a bare
// status line and is closed.
type rawResponse struct {
	conn   net.Conn
	header http.Header
}

func (r *rawResponse) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

func (r *rawResponse) WriteHeader(status int) {
	_, _ = io.WriteString(r.conn, "HTTP/1.1 "+strconv.Itoa(status)+" "+http.StatusText(status)+
		"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
}

func (r *rawResponse) Write(b []byte) (int, error) { return len(b), nil }

func (r *rawResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return r.conn, bufio.NewReadWriter(bufio.NewReaderSize(r.conn, 16), bufio.NewWriterSize(r.conn, 256)), nil
}
