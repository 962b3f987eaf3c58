package handlers

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/config"
	"gateway/internal/apierror"
	"gateway/internal/streams"
	"gateway/middleware"
	"gateway/upstream"
)

// liveCheckInterval is how often a stream whose client no hang-up watcher
// watches (off Linux) polls it while its upstream is quiet. It keeps "a
// client that disconnects closes the upstream connection within 1 s"
// (issue 3) true for a silent upstream, whose stream would otherwise only
// notice at its next write.
const liveCheckInterval = 500 * time.Millisecond

// msgDraining answers a stream asked for while the gateway shuts down.
const msgDraining = "gateway shutting down"

// SSE proxies `GET|HEAD /sse/:service/*` to an upstream of the service,
// with the /api rules for path mapping, selection, breaker, retries and
// request ids (it shares the Proxy's request preparation and sending).
//
// An answer that is a 2xx text/event-stream is relayed unbuffered: each
// chunk the upstream writes is written to the client at once, in one write
// (net/http/httputil.ReverseProxy treats this content type as flush
// interval -1 for the same reason), with Cache-Control: no-cache and
// X-Accel-Buffering: no added. Any other answer is passed through as /api
// passes it.
//
// Memory and CPU per held stream are the point of the design (issue 3
// measures them; see bench/streams). Once the upstream's headers are in,
// the handler takes the client connection over from fasthttp (a hijack),
// so the server's worker goroutine, with the deep stack the request path
// grew, its request context, read and write buffers go back to their
// pools; a fresh, shallow goroutine relays the stream, holding no buffer
// while it waits. It is the stream's only goroutine: its upstream
// connection's quiet intervals become ticks (see upstream.StreamConn), at
// which it writes heartbeats, and a tick can be forced from outside, which
// is how one epoll watcher for all streams (see hangups) ends a stream the
// moment its client hangs up, and how Shutdown ends them all. A quiet
// stream thus costs no CPU between heartbeats.
//
// A stream counts as in flight on its upstream until it ends, and as an
// active SSE stream; its latency sample is the time to the headers.
type SSE struct {
	proxy     *Proxy
	heartbeat time.Duration // 0: no heartbeats
	bufs      sync.Pool     // *relayBuffer
	reg       *streams.Registry
	ends      *middleware.StreamEnds // nil: ends not reported

	mu      sync.Mutex // guards the hang-up watcher's registrations (see sse_registry.go)
	streams map[uint64]*sseStream
	nextID  uint64
	hangups *hangups // nil: none running, or none on this platform
}

// NewSSE returns the /sse handler over pool, configured by cfg:
// HTTP_PROXY_TIMEOUT_MS bounds the time to the response headers and
// SSE_HEARTBEAT_MS spaces the heartbeats. Its streams are kept in reg,
// shared with the WebSocket bridge so that a drain spreads both kinds over
// one window; nil gives it a registry of its own (see NewStreams).
func NewSSE(pool *upstream.Pool, cfg *config.Config, reg *streams.Registry, opts ...StreamOption) *SSE {
	if reg == nil {
		reg = NewStreams(cfg)
	}
	return &SSE{
		proxy:     NewProxy(pool, cfg),
		heartbeat: cfg.SSEHeartbeat,
		bufs:      sync.Pool{New: func() any { return new(relayBuffer) }},
		reg:       reg,
		ends:      newStreamOptions(opts).ends,
	}
}

// NewStreams returns the registry of long-lived streams configured by cfg:
// STREAM_DRAIN_MS and STREAM_MAX_AGE_AFTER_REMOVAL_MS.
func NewStreams(cfg *config.Config) *streams.Registry {
	return streams.New(streams.Options{Window: cfg.StreamDrain, MaxAgeAfterRemoval: cfg.StreamMaxAgeAfterRemove})
}

// tickInterval returns the quiet interval of a stream that polls its
// client: the longest not above liveCheckInterval that divides heartbeat
// evenly, so heartbeats fall on ticks.
func tickInterval(heartbeat time.Duration) time.Duration {
	if heartbeat <= 0 {
		return liveCheckInterval
	}
	n := (heartbeat + liveCheckInterval - 1) / liveCheckInterval
	return heartbeat / n
}

// Shutdown ends the open streams of its registry, spread over
// STREAM_DRAIN_MS, each with a `retry:` field and a clean end of body, and
// waits, until ctx ends, for all of them to have closed both their
// connections; streams still open then have their client connections cut.
// Streams asked for afterwards are refused with 503. The server's own
// graceful shutdown does not wait for them: a stream's connection is no
// longer the server's. (With a shared registry, App.Shutdown calls the
// registry's Shutdown instead, which ends the WebSocket bridges too.)
func (s *SSE) Shutdown(ctx context.Context) error { return s.reg.Shutdown(ctx) }

// Handle is the fiber.Handler of the /sse route.
func (s *SSE) Handle(c *fiber.Ctx) error {
	svc := s.proxy.pool.Service(c.Params("service"))
	if svc == nil {
		return apierror.Write(c, fiber.StatusNotFound, msgUnknownService)
	}
	ctx := c.Context()
	req := fasthttp.AcquireRequest()
	clientClose := prepareRequest(req, ctx, s.proxy.trusted, nil)
	resp := fasthttp.AcquireResponse()
	start := time.Now()
	lease, err := s.proxy.send(c, svc, req, resp, (*upstream.Upstream).StreamClient, true)
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
	st := &sseStream{h: s, lease: lease}
	entry, ok := s.reg.Add(st, streams.SSE, lease.Upstream())
	if !ok {
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		lease.Done(upstream.Outcome{Canceled: true})
		return apierror.WriteRetry(c, fiber.StatusServiceUnavailable, msgDraining, streams.RetryAfterSeconds)
	}
	st.entry = entry
	st.report = s.ends.Begin(c, streams.SSE)
	s.startStream(ctx, st, resp, ttfb, c.App().Server().KeepHijackedConns)
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
	if body == nil { // read whole (see upstream's transport), or none
		ctx.Response.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
		return
	}
	ctx.Response.SetBodyStream(body, resp.Header.ContentLength())
}

// startStream answers with resp's event stream: the response head is
// built now, and the client connection is taken over from fasthttp once
// the handler chain has returned (RequestCtx.Hijack), to be relayed by
// sseStream.begin. The connection closes when the stream ends, so the
// head says Connection: close. detach tells whether the server keeps
// hijacked connections open after their handler returns.
func (s *SSE) startStream(ctx *fasthttp.RequestCtx, st *sseStream, resp *fasthttp.Response, ttfb time.Duration, detach bool) {
	lease := st.lease
	u := lease.Upstream()
	u.StreamOpened(upstream.SSE)
	settled := u.State() != upstream.StateClosed
	if settled {
		// This stream is likely the breaker's half-open probe: judge the
		// upstream by its headers now, not when the stream ends hours
		// later, which would keep all other traffic away that long. The
		// lease still counts the stream as in flight until it ends.
		lease.Settle(upstream.Outcome{Status: resp.StatusCode(), Latency: ttfb})
	}
	st.settled = settled
	st.status = resp.StatusCode()
	st.body = resp.BodyStream()
	st.conn = upstream.StreamConnOf(resp)
	st.client = ctx.Conn()
	st.ttfb = ttfb
	st.lastWrite = time.Now()
	st.chunked = resp.Header.ContentLength() == -1
	st.identity = !ctx.Request.Header.IsHTTP11()
	st.detach = detach
	st.cw.init(st.client)
	if rb, ok := st.body.(upstream.RawBody); ok && st.conn != nil && rb.Raw() {
		st.raw, st.chunked = rb, rb.Chunked()
		st.readFn = st.rawRead
	}
	h := &ctx.Response.Header
	resp.Header.CopyTo(h)
	finishResponse(ctx)
	setStreamHeaders(h)
	h.SetConnectionClose()
	if st.identity { // an HTTP/1.0 client reads the body up to the close
		h.SetContentLength(-2)
	} else {
		h.SetContentLength(-1)
	}
	// resp is not released but left to the garbage collector: releasing
	// it would close the body, which the stream now owns (st.body).
	st.ctx = ctx // serve writes the head: the middleware after this handler may still change it
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(st.begin)
}
