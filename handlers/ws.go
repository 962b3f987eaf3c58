package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"gateway/config"
	"gateway/internal/apierror"
	"gateway/internal/streams"
	"gateway/middleware"
	"gateway/upstream"
)

// Sizes and times of the bridges, chosen for memory first: an idle bridge
// holds no buffer at all (issue 3: at most 16 KiB per idle bridge).
const (
	// wsReadBufferSize and wsWriteBufferSize are the buffers of the
	// WebSocket library's connections, which serve the handshakes only:
	// frames are read by frameReader and written by frameWriter. They are
	// the library's minimums.
	wsReadBufferSize  = 125
	wsWriteBufferSize = 1
	// wsChunkSize is the read buffer of a side, and so the most the gateway
	// reads from one side before writing it to the other (capped by
	// WS_MAX_BUFFERED_BYTES, but at least wsMinChunkSize, which holds any
	// frame header and control frame). Buffers come from a pool, held only
	// while bytes read are waiting to be written.
	wsChunkSize    = 16 << 10
	wsMinChunkSize = 256
	// wsCloseGrace is how long a bridge waits, once a close frame has been
	// sent, for the other side's close frame before cutting both sockets.
	wsCloseGrace = 2 * time.Second
	// wsBacklog is the send queue above which a side's socket holds a
	// backlog its pongs wait behind: a queue that shrinks from there shows
	// the side reading (see bridge.tick).
	wsBacklog = 64 << 10
	// wsControlTimeout bounds writing one ping or close frame.
	wsControlTimeout = time.Second
	// wsKeepalivePrefix starts the payload of the gateway's own pings, so
	// that their pongs are consumed rather than passed to the other side. A
	// random suffix per process keeps a client from sending a ping that
	// looks like the gateway's and swallowing the upstream's pong.
	wsKeepalivePrefix = "gateway-keepalive-"
)

// Messages of the WebSocket bridge's own error answers.
const (
	msgWSUpgradeRequired = "websocket upgrade required"
	msgWSBadPath         = "bad websocket path"
	msgWSBadQuery        = "bad websocket query"
	msgWSShuttingDown    = "gateway shutting down"
	msgWSUpstreamRemoved = "upstream removed"
	msgWSMisconfigured   = "websocket bridge needs fasthttp KeepHijackedConns"
)

// WSBridge serves `GET /ws/:service?path=/p`: it opens a WebSocket to an
// upstream of the service at its base path + p, and only once the upstream
// has accepted upgrades the client and copies messages both ways until
// either side closes (issue 3).
//
// Each bridge costs two goroutines, one per direction, which wait on their
// sockets holding no buffer and a minimal stack while idle (frameReader).
// The Fiber server must have KeepHijackedConns set, so that the upgrade's
// goroutine and request context are released as soon as the bridge has
// started.
//
// The bridge holds its upstream lease for its whole life, so open bridges
// count as load in selection; it must not be copied.
type WSBridge struct {
	pool    *upstream.Pool
	log     *slog.Logger
	trusted []netip.Prefix
	dialer  websocket.Dialer
	// clientUpgrade is gofiber/contrib/websocket's handler (newClientUpgrade).
	clientUpgrade fiber.Handler
	timeout       time.Duration // upstream handshake, and client upgrade hand-off
	retryAfter    int

	interval     time.Duration // keep-alive ping interval
	writeTimeout time.Duration // a side that accepts nothing this long is stuck
	maxMessage   int64
	chunkSize    int

	chunks sync.Pool // *[]byte read buffers of chunkSize
	ping   []byte    // wsKeepalivePrefix + a random suffix

	reg      *streams.Registry
	ends     *middleware.StreamEnds // nil: ends not reported
	counters wsCounters
}

// NewWSBridge returns the /ws handler over pool, configured by cfg:
// WS_PING_INTERVAL_MS (also the write deadline), WS_MAX_BUFFERED_BYTES,
// WS_MAX_MESSAGE_BYTES, UPSTREAM_DIAL_TIMEOUT_MS, HTTP_PROXY_TIMEOUT_MS
// (the upstream handshake) and TRUSTED_PROXIES. Its bridges are kept in
// reg, shared with SSE; nil gives it a registry of its own (NewStreams).
func NewWSBridge(pool *upstream.Pool, cfg *config.Config, log *slog.Logger, reg *streams.Registry, opts ...StreamOption) *WSBridge {
	if reg == nil {
		reg = NewStreams(cfg)
	}
	w := &WSBridge{
		pool:         pool,
		log:          log,
		trusted:      cfg.TrustedProxies,
		timeout:      cfg.ProxyTimeout,
		retryAfter:   retryAfterSeconds(cfg.CBCooldown),
		interval:     cfg.WSPingInterval,
		writeTimeout: cfg.WSPingInterval,
		maxMessage:   int64(cfg.WSMaxMessageBytes),
		chunkSize:    min(wsChunkSize, max(cfg.WSMaxBufferedBytes, wsMinChunkSize)),
		ping:         keepalivePayload(),
		reg:          reg,
		ends:         newStreamOptions(opts).ends,
	}
	w.chunks.New = func() any {
		b := make([]byte, w.chunkSize)
		return &b
	}
	w.dialer = newWSDialer(cfg.DialTimeout, cfg.ProxyTimeout)
	w.clientUpgrade = w.newClientUpgrade()
	return w
}

// Handle is the fiber.Handler of GET /ws/:service.
func (w *WSBridge) Handle(c *fiber.Ctx) error {
	svc := w.pool.Service(c.Params("service"))
	if svc == nil {
		return apierror.Write(c, fiber.StatusNotFound, msgUnknownService)
	}
	if status, msg := checkUpgrade(c); status != 0 {
		return apierror.Write(c, status, msg)
	}
	ctx := c.Context()
	path := ctx.QueryArgs().Peek(wsPathParam)
	if len(path) == 0 {
		path = []byte{'/'}
	} else if !validWSPath(path) {
		return apierror.Write(c, fiber.StatusBadRequest, msgWSBadPath)
	}
	var qbuf [256]byte
	query := appendForwardedQuery(qbuf[:0], ctx.URI().QueryString())
	if !validWSQuery(query) {
		return apierror.Write(c, fiber.StatusBadRequest, msgWSBadQuery)
	}
	if w.reg.Closing() {
		return apierror.WriteRetry(c, fiber.StatusServiceUnavailable, msgWSShuttingDown, streams.RetryAfterSeconds)
	}
	if !c.App().Server().KeepHijackedConns {
		return apierror.Write(c, fiber.StatusInternalServerError, msgWSMisconfigured)
	}
	p := w.dial(c, svc, path, query)
	if p == nil {
		return nil // dial wrote the error answer
	}
	p.report = w.ends.Begin(c, streams.WebSocket)
	p.armHandoff(w.timeout)
	return w.upgrade(c, p)
}

// Stats returns the bridges' counters.
func (w *WSBridge) Stats() WSStats { return w.counters.snapshot(int64(w.reg.Len(streams.WebSocket))) }

// keepalivePayload returns the payload of this process's keep-alive pings.
func keepalivePayload() []byte {
	var raw [8]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on Linux (Go 1.24+)
	return hex.AppendEncode([]byte(wsKeepalivePrefix), raw[:])
}
