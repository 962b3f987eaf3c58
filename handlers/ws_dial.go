package handlers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/internal/apierror"
	"gateway/internal/forwarded"
	"gateway/middleware"
	"gateway/upstream"
)

// newWSDialer returns the dialer of upstream WebSockets: TCP connect bounded
// by dialTimeout, the whole handshake by handshakeTimeout, the smallest
// buffers (they serve the handshake only), no compression (the bridge
// passes payloads as they are). Its connections are handshakeConns.
func newWSDialer(dialTimeout, handshakeTimeout time.Duration) websocket.Dialer {
	nd := &net.Dialer{Timeout: dialTimeout}
	return websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &handshakeConn{Conn: c}, nil
		},
		NetDialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			host, _, _ := net.SplitHostPort(addr)
			tc := tls.Client(c, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
			}
			return &handshakeConn{Conn: tc}, nil
		},
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   wsReadBufferSize,
		WriteBufferSize:  wsWriteBufferSize,
	}
}

// pendingBridge is an upstream WebSocket waiting for its client to be
// upgraded. Exactly one of the bridge (claim) and the hand-off timer
// (release) takes it, so the upstream connection and the lease cannot leak
// when fasthttp fails to write the client's 101 and never runs the upgrade.
type pendingBridge struct {
	subprotocol string   // the upstream's choice, for the client's 101
	cookies     []string // the upstream's Set-Cookie fields, for the client's 101
	raw         net.Conn // the upstream socket (or TLS connection)
	early       []byte   // frames the upstream sent right behind its 101
	up          *upstream.Upstream
	lease       upstream.Lease        // settled at the handshake; released when the bridge ends
	report      *middleware.StreamEnd // the bridge's end report (nil: none)
	taken       atomic.Bool
	timer       *time.Timer
}

// armHandoff releases p unless the client is upgraded within d.
func (p *pendingBridge) armHandoff(d time.Duration) {
	p.timer = time.AfterFunc(d, p.release)
}

// claim takes p for a bridge; it reports false when p was released.
func (p *pendingBridge) claim() bool {
	if !p.taken.CompareAndSwap(false, true) {
		return false
	}
	p.timer.Stop()
	return true
}

// release gives p up unless a bridge has claimed it.
func (p *pendingBridge) release() {
	if p.taken.CompareAndSwap(false, true) {
		p.finishUnused()
	}
}

// finishUnused closes the upstream connection of a bridge that never
// started and releases its lease (settled at the handshake).
func (p *pendingBridge) finishUnused() {
	_ = p.raw.Close()
	p.lease.Release()
}

// dial opens the upstream WebSocket for the client's request on an
// upstream of svc, retrying once on another upstream when the first could
// not be reached and the retry budget allows (an upgrade is a GET without a
// body; nothing was done). On success the upstream's chosen subprotocol and
// cookies are kept for the client's 101. On failure it writes the gateway's
// answer (503 no upstream, 502 refused or bad handshake, 504 timeout) and
// returns nil.
func (w *WSBridge) dial(c *fiber.Ctx, svc *upstream.Service, path, query []byte) *pendingBridge {
	header := w.upstreamHeader(c.Context())
	r := newRetry(c, w.pool.RetryBudget(), true)
	defer r.end()
	for {
		lease, err := r.pick(svc)
		if err != nil {
			w.counters.failures.Add(1)
			if r.retrying { // no other upstream to retry on: report the first failure
				_ = apierror.Write(c, r.first.status, r.first.msg)
				return nil
			}
			_ = apierror.WriteRetry(c, fiber.StatusServiceUnavailable, msgNoUpstream, w.retryAfter)
			return nil
		}
		u := lease.Upstream()
		c.Locals(LocalUpstream, u)
		p, f := w.dialOne(c, u, lease, header, path, query)
		if p != nil {
			return p
		}
		if r.again(c, u, f, true) { // an upgrade is a GET without a body
			continue
		}
		w.counters.failures.Add(1)
		_ = apierror.Write(c, f.status, f.msg)
		return nil
	}
}

// dialOne opens the upstream WebSocket on u. On failure it ends the lease
// with the outcome (the breaker learns of dead upstreams and of refused or
// failing handshakes) and returns how to answer the client.
func (w *WSBridge) dialOne(c *fiber.Ctx, u *upstream.Upstream, lease upstream.Lease, header http.Header,
	path, query []byte) (*pendingBridge, failure) {
	var buf [512]byte
	target := string(appendWSTarget(buf[:0], u.URL(), u.BasePath(), path, query))
	start := time.Now()
	conn, resp, err := w.dialer.DialContext(context.Background(), target, header)
	latency := time.Since(start)
	if err != nil {
		return nil, w.dialFailed(c, u, lease, resp, err)
	}
	hc, ok := conn.NetConn().(*handshakeConn)
	if !ok { // the dialer only makes handshakeConns
		_ = conn.Close()
		lease.Done(upstream.Outcome{Err: errors.New("unexpected upstream connection type")})
		return nil, failure{fasthttp.StatusBadGateway, msgBadResponse, false, false}
	}
	// The upstream is judged by its handshake, now, not when the bridge
	// ends hours later: a bridge that was the breaker's half-open probe
	// must not keep all other traffic away that long. The lease still
	// counts the bridge in the upstream's load until Release.
	lease.Settle(upstream.Outcome{Status: fasthttp.StatusSwitchingProtocols, Latency: latency})
	// The library's connection is dropped: frames are read and written on
	// the connection under it by the bridge.
	p := &pendingBridge{raw: hc.Conn, early: hc.rest(), up: u, lease: lease}
	p.subprotocol = conn.Subprotocol()
	p.cookies = resp.Header.Values(fiber.HeaderSetCookie)
	return p, failure{}
}

// dialFailed ends the lease of a failed dial and returns the client's
// answer: 502 for a handshake the upstream refused (any status but 101,
// logged with that status), else classify's mapping; a failure to connect
// is retryable, since nothing reached the upstream.
func (w *WSBridge) dialFailed(c *fiber.Ctx, u *upstream.Upstream, lease upstream.Lease, resp *http.Response, err error) failure {
	if errors.Is(err, websocket.ErrBadHandshake) && resp != nil && resp.StatusCode != fasthttp.StatusSwitchingProtocols {
		lease.Done(upstream.Outcome{Status: resp.StatusCode})
		w.log.Warn("upstream refused websocket upgrade",
			slog.String("upstream", u.String()),
			slog.Int("status", resp.StatusCode),
			slog.String("requestId", string(c.Request().Header.Peek(apierror.HeaderRequestID))))
		return failure{fasthttp.StatusBadGateway, msgBadResponse, false, false}
	}
	lease.Done(upstream.Outcome{Err: err})
	f := classify(err)
	f.retryable = f.retryable || isDialError(err)
	return f
}

// upstreamHeader returns the header of the upstream handshake: the
// client's end-to-end fields (Sec-WebSocket-Protocol, x-request-id,
// cookies, Authorization, Origin and the rest) less the hop-by-hop ones and
// those of the client's own handshake, which the dialer writes itself, plus
// X-Forwarded-For, -Proto and -Host as the /api proxy sets them.
func (w *WSBridge) upstreamHeader(ctx *fasthttp.RequestCtx) http.Header {
	var h fasthttp.RequestHeader
	ctx.Request.Header.CopyTo(&h)
	removeRequestHops(&h)
	forwarded.Set(&h, ctx, w.trusted)
	out := make(http.Header, h.Len())
	for k, v := range h.All() {
		key := http.CanonicalHeaderKey(string(k))
		switch key {
		case "Host", "Content-Length", "Sec-Websocket-Key", "Sec-Websocket-Version",
			"Sec-Websocket-Extensions", "Sec-Websocket-Accept":
			continue
		}
		out[key] = append(out[key], string(v))
	}
	return out
}

// handshakeConn is an upstream connection while the dialer reads the
// upstream's 101: it hands the dialer's buffered reader nothing past the
// blank line ending the response header, so the first frames, which an
// upstream may send right behind its 101, stay here (rest) for the
// bridge's frameReader, which reads the connection under it.
//
// It also bounds the upstream's response header to maxUpstreamHandshake
// bytes: the library reads it with no limit, and an upstream sending one
// endless header line would otherwise grow the gateway's memory until the
// handshake timeout.
type handshakeConn struct {
	net.Conn
	pending   []byte // read, not handed out
	handed    int    // bytes handed out so far
	lineStart bool   // the last byte handed out ended a line
	done      bool   // the header's end was handed out
}

// maxUpstreamHandshake bounds an upstream's handshake response header.
const maxUpstreamHandshake = 16 << 10

// errHandshakeTooLarge is an upstream handshake response header past
// maxUpstreamHandshake.
var errHandshakeTooLarge = errors.New("upstream websocket handshake response header too large")

func (c *handshakeConn) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF // a refused handshake's body: not needed
	}
	if c.handed >= maxUpstreamHandshake {
		return 0, errHandshakeTooLarge
	}
	if len(c.pending) == 0 {
		buf := make([]byte, 512) // not kept: the connection lives on, its handshake buffer must not
		n, err := c.Conn.Read(buf)
		if n == 0 {
			return 0, err
		}
		c.pending = buf[:n]
	}
	n := min(len(p), len(c.pending))
	for i, b := range c.pending[:n] {
		switch {
		case b == '\n' && c.lineStart:
			n, c.done = i+1, true
		case b == '\n':
			c.lineStart = true
		case b != '\r':
			c.lineStart = false
		}
		if c.done {
			break
		}
	}
	copy(p, c.pending[:n])
	c.pending = c.pending[n:]
	c.handed += n
	return n, nil
}

// rest returns the bytes read past the response header, and lets go of
// the read buffer.
func (c *handshakeConn) rest() []byte {
	var rest []byte
	if len(c.pending) > 0 {
		rest = append(rest, c.pending...)
	}
	c.pending = nil
	return rest
}
