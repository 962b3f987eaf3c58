package handlers

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/fasthttp/websocket"
	contribws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"gateway/internal/apierror"
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
	case !ctx.IsGet(): // Fiber routes HEAD to GET handlers; the upgrader takes GET only
		c.Set(fiber.HeaderAllow, fiber.MethodGet)
		return fiber.StatusMethodNotAllowed, msgWSUpgradeRequired
	case !ctx.Request.Header.IsHTTP11() || h.ConnectionClose():
		// RFC 6455 §4.1: HTTP/1.1 at least. fasthttp would write the 101
		// and then close the connection instead of handing it over.
		return fiber.StatusBadRequest, msgWSUpgradeRequired
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

// localPendingBridge is the request local through which Handle passes the
// dialled upstream to the upgrade's handler (contribws copies the request's
// locals into its Conn).
const localPendingBridge = "gateway.wsPendingBridge"

// newClientUpgrade returns the client side's upgrade: gofiber/contrib/websocket
// (its fasthttp/websocket upgrader writes the 101 through fasthttp, with the
// response fields Handle set: the upstream's Sec-WebSocket-Protocol and
// cookies, x-request-id). Its handler, upgradeClient, runs on fasthttp's
// hijack goroutine.
//
// The library's Conn serves the handshake only: upgradeClient takes the
// socket under it and returns at once, so the Conn, its buffers and the
// request's copied fields go back to their pools. Read through the Conn, a
// bridge would hold fasthttp's per-connection read buffer (MAX_HEADER_BYTES,
// 16 KiB) and the library's own buffers for its whole life: about 25 KiB,
// more than the rest of an idle bridge together (issue 3 budget: 16 KiB).
func (w *WSBridge) newClientUpgrade() fiber.Handler {
	return contribws.New(w.upgradeClient, contribws.Config{
		// Any origin: the upstream, which receives the client's Origin,
		// decides. Subprotocols stays nil: the upgrader then answers with the
		// Sec-WebSocket-Protocol the upstream chose (set by Handle).
		Origins:         []string{"*"},
		ReadBufferSize:  wsReadBufferSize,
		WriteBufferSize: wsWriteBufferSize,
		RecoverHandler:  w.recoverUpgrade,
	})
}

// upgrade hands the client connection to the bridge of p: the 101 is
// written by fasthttp once Handle returns, then upgradeClient starts the
// bridge. Checks made before dialling mean the upgrader should never refuse;
// if it does, the upstream side is released and the client answered.
func (w *WSBridge) upgrade(c *fiber.Ctx, p *pendingBridge) error {
	h := &c.Context().Response.Header
	if p.subprotocol != "" {
		h.Set(fiber.HeaderSecWebSocketProtocol, p.subprotocol)
	}
	for _, v := range p.cookies {
		h.Add(fiber.HeaderSetCookie, v)
	}
	c.Locals(localPendingBridge, p)
	if err := w.clientUpgrade(c); err != nil {
		if p.claim() {
			p.finishUnused()
		}
		h.Del(fiber.HeaderSecWebSocketProtocol)
		h.Del(fiber.HeaderSetCookie)
		return apierror.Write(c, fiber.StatusBadRequest, msgWSUpgradeRequired)
	}
	return nil
}

// upgradeClient runs on fasthttp's hijack goroutine once the 101 is out: it
// takes the socket from the library's connection, starts the bridge, and
// returns, so the goroutine, the request context and the library's Conn
// are released (KeepHijackedConns keeps the socket open).
func (w *WSBridge) upgradeClient(conn *contribws.Conn) {
	p, _ := conn.Locals(localPendingBridge).(*pendingBridge)
	conn.Locals(localPendingBridge, nil) // the library pools its Conn: keep no reference
	nc := conn.NetConn()
	if p == nil || !p.claim() {
		_ = nc.Close() // the hand-off timed out; the upstream side is gone
		return
	}
	started := false
	defer func() { // also on a panic, which recoverUpgrade then logs
		if !started {
			_ = nc.Close()
			p.finishUnused()
		}
	}()
	raw, early, err := unwrapHijacked(nc)
	if err != nil {
		return
	}
	b := newBridge(w, raw, early, p)
	started = true // from here the bridge releases it all (finish)
	b.start()
}

// recoverUpgrade is the upgrade's panic handler: the library's default would
// write a JSON error as a WebSocket message. A panic there is a gateway bug;
// it is logged with its stack and the client's socket closed.
func (w *WSBridge) recoverUpgrade(conn *contribws.Conn) {
	if r := recover(); r != nil {
		w.log.Error("websocket upgrade panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		if conn.Conn != nil {
			_ = conn.NetConn().Close()
		}
	}
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
