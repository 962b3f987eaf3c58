package handlers

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/apierror"
	"gateway/config"
	"gateway/upstream"
)

// liveCheckInterval is how often a stream checks, while its upstream is
// quiet, that its client is still there and the gateway is not shutting
// down. It keeps "a client that disconnects closes the upstream connection
// within 1 s" (issue 3) true for a silent upstream, whose stream would
// otherwise only notice at its next write.
const liveCheckInterval = 500 * time.Millisecond

// relayBufferSize is the size of the buffer one stream's upstream bytes are
// copied through; a chunk is relayed as soon as it is read, however small.
const relayBufferSize = 4096

// SSE proxies `GET|HEAD /sse/:service/*` to an upstream of the service,
// with the /api rules for path mapping, selection, breaker, retries and
// request ids (it shares the Proxy's request preparation and sending).
//
// An answer that is a 2xx text/event-stream is relayed unbuffered: each
// chunk the upstream writes is written and flushed to the client at once
// (net/http/httputil.ReverseProxy treats this content type as flush
// interval -1 for the same reason), with Cache-Control: no-cache and
// X-Accel-Buffering: no added. Any other answer is passed through as /api
// passes it.
//
// A stream costs no goroutine of its own: it is copied by the fasthttp
// server goroutine that writes the response, and a stream connection's
// quiet intervals are turned into ticks (see upstream.StreamConn), at
// which the stream sends heartbeats and notices its client leaving or the
// gateway shutting down. The stream counts as in flight on its upstream
// until it ends, and as an active SSE stream.
type SSE struct {
	proxy     *Proxy
	heartbeat time.Duration // 0: no heartbeats
	tick      time.Duration // divides heartbeat; at most liveCheckInterval
	stopping  atomic.Bool
	bufs      sync.Pool // *[relayBufferSize]byte
}

// NewSSE returns the /sse handler over pool, configured by cfg:
// HTTP_PROXY_TIMEOUT_MS bounds the time to the response headers and
// SSE_HEARTBEAT_MS spaces the heartbeats.
func NewSSE(pool *upstream.Pool, cfg *config.Config) *SSE {
	return &SSE{
		proxy:     NewProxy(pool, cfg),
		heartbeat: cfg.SSEHeartbeat,
		tick:      tickInterval(cfg.SSEHeartbeat),
		bufs:      sync.Pool{New: func() any { return new([relayBufferSize]byte) }},
	}
}

// tickInterval returns the longest interval not above liveCheckInterval
// that divides heartbeat evenly, so heartbeats fall on ticks.
func tickInterval(heartbeat time.Duration) time.Duration {
	if heartbeat <= 0 {
		return liveCheckInterval
	}
	n := (heartbeat + liveCheckInterval - 1) / liveCheckInterval
	return heartbeat / n
}

// Shutdown ends every open stream at its next tick (within
// liveCheckInterval) with a clean end of body, so the server's graceful
// shutdown, which waits for open connections, does not wait on streams
// that would never end. Streams that start afterwards end at their first
// tick. Call it before shutting the server down.
func (s *SSE) Shutdown() { s.stopping.Store(true) }

// Handle is the fiber.Handler of the /sse route.
func (s *SSE) Handle(c *fiber.Ctx) error {
	svc := s.proxy.pool.Service(c.Params("service"))
	if svc == nil {
		return apierror.Write(c, fiber.StatusNotFound, msgUnknownService)
	}
	ctx := c.Context()
	req := fasthttp.AcquireRequest()
	clientClose := prepareRequest(req, ctx, s.proxy.trusted)
	resp := fasthttp.AcquireResponse()
	start := time.Now()
	lease, err := s.proxy.send(c, svc, req, resp, (*upstream.Upstream).StreamClient)
	ttfb := time.Since(start)
	fasthttp.ReleaseRequest(req)
	if lease.Upstream() == nil {
		fasthttp.ReleaseResponse(resp)
		return err
	}
	if clientClose {
		ctx.SetConnectionClose()
	}
	events := isEventStream(resp)
	if !events || resp.BodyStream() == nil { // not a stream, or HEAD
		lease.Done(upstream.Outcome{Status: resp.StatusCode()})
		passThrough(ctx, resp)
		if events {
			setStreamHeaders(&ctx.Response.Header)
		}
		return nil
	}
	s.startStream(ctx, lease, resp, ttfb)
	return nil
}

// isEventStream reports whether resp is a successful text/event-stream
// answer, the only kind relayed as a stream.
func isEventStream(resp *fasthttp.Response) bool {
	if code := resp.StatusCode(); code < 200 || code > 299 {
		return false
	}
	ct := resp.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(ct), []byte("text/event-stream"))
}

// setStreamHeaders marks an event stream as not to be cached or buffered
// by anything between the gateway and the client (X-Accel-Buffering is
// nginx's, also honoured by other proxies).
func setStreamHeaders(h *fasthttp.ResponseHeader) {
	h.Set(fasthttp.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// passThrough makes resp, an ordinary answer, the client's response. Its
// body stream moves over to the client response, which closes it once
// written; resp itself is then left to the garbage collector rather than
// released, since releasing it would close the stream (and its trailers,
// if any, are read into it and not forwarded).
func passThrough(ctx *fasthttp.RequestCtx, resp *fasthttp.Response) {
	resp.Header.CopyTo(&ctx.Response.Header)
	finishResponse(ctx)
	body := resp.BodyStream()
	if body == nil {
		fasthttp.ReleaseResponse(resp)
		return
	}
	ctx.Response.SetBodyStream(body, resp.Header.ContentLength())
}

// startStream makes resp's event stream the client's response body. The
// fasthttp server copies it after the handler returns (sseStream.WriteTo);
// the stream closes, ending lease, when either side ends it.
func (s *SSE) startStream(ctx *fasthttp.RequestCtx, lease upstream.Lease, resp *fasthttp.Response, ttfb time.Duration) {
	u := lease.Upstream()
	u.StreamOpened(upstream.SSE)
	st := &sseStream{
		h:         s,
		lease:     lease,
		resp:      resp,
		body:      resp.BodyStream(),
		conn:      upstream.StreamConnOf(resp),
		peer:      newPeer(ctx.Conn()),
		ttfb:      ttfb,
		chunked:   resp.Header.ContentLength() == -1,
		lastWrite: time.Now(),
	}
	resp.Header.CopyTo(&ctx.Response.Header)
	finishResponse(ctx)
	setStreamHeaders(&ctx.Response.Header)
	// The client learns at once that the stream is open (EventSource's
	// "open"), not at the first event.
	ctx.Response.ImmediateHeaderFlush = true
	if st.conn != nil {
		_ = st.conn.Watch(s.tick, st) // a failure resurfaces on the first Read
	}
	ctx.Response.SetBodyStream(st, -1)
}
