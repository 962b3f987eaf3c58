// Package handlers holds the gateway's Fiber handlers: the HTTP proxy, the
// SSE and WebSocket bridges, health and admin. Each receives the upstream
// pool, the configuration and the metrics through its constructor.
package handlers

import (
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"gateway/config"
	"gateway/internal/apierror"
	"gateway/internal/forwarded"
	"gateway/middleware"
	"gateway/upstream"
)

// Locals keys under which the handlers leave, for the access log, the
// *upstream.Upstream that answered and the number of retries (an int).
const (
	LocalUpstream = "gateway.upstream"
	LocalRetries  = "gateway.retries"
)

// Proxy forwards `ANY /api/:service/*` to an upstream of the service: the
// upstream receives its base path + "/" + the wildcard rest, query kept.
// It holds no per-request state; one Proxy serves every request.
type Proxy struct {
	pool       *upstream.Pool
	trusted    []netip.Prefix
	timeout    time.Duration
	maxBody    int64
	bodyIdle   time.Duration // CLIENT_BODY_TIMEOUT_MS: longest silence of a streamed request body
	retryAfter int           // of a 503 for no upstream
	busyAfter  int           // of a 503 for no free upstream connection
	bodies     clientBodies
}

// NewProxy returns the /api proxy over pool, configured by cfg.
func NewProxy(pool *upstream.Pool, cfg *config.Config) *Proxy {
	return &Proxy{
		pool:       pool,
		trusted:    cfg.TrustedProxies,
		timeout:    cfg.ProxyTimeout,
		maxBody:    cfg.MaxBodyBytes,
		bodyIdle:   cfg.ClientBodyTimeout,
		retryAfter: retryAfterSeconds(cfg.CBCooldown),
		busyAfter:  retryAfterSeconds(cfg.UpstreamPoolWait),
	}
}

// retryAfterSeconds is the Retry-After of a 503, d rounded up to whole
// seconds and at least one: the breaker cool-down for "no upstream", the
// pool wait for "no free connection".
func retryAfterSeconds(d time.Duration) int {
	if s := int((d + time.Second - 1) / time.Second); s > 1 {
		return s
	}
	return 1
}

// Handle is the fiber.Handler of the /api route.
func (p *Proxy) Handle(c *fiber.Ctx) error {
	svc := p.pool.Service(c.Params("service"))
	if svc == nil {
		return apierror.Write(c, fiber.StatusNotFound, msgUnknownService)
	}
	ctx := c.Context()
	if cl := ctx.Request.Header.ContentLength(); p.maxBody > 0 && int64(cl) > p.maxBody {
		return apierror.Write(c, fiber.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	var body *clientBody
	if cl := ctx.Request.Header.ContentLength(); hasBody(cl) && ctx.Request.IsBodyStream() {
		body = p.bodies.get(ctx.RequestBodyStream(), cl, p.maxBody, ctx, p.bodyIdle)
		defer p.bodies.put(body) // after the request below lets go of it
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	clientClose := prepareRequest(req, ctx, p.trusted, body)
	err := p.roundTrip(c, svc, req)
	if clientClose {
		ctx.SetConnectionClose()
	}
	return err
}

// roundTrip sends req to an upstream of svc and leaves the answer (the
// upstream's, or the gateway's error) in c's response.
func (p *Proxy) roundTrip(c *fiber.Ctx, svc *upstream.Service, req *fasthttp.Request) error {
	ctx := c.Context()
	lease, err := p.send(c, svc, req, &ctx.Response, (*upstream.Upstream).Client, false)
	if lease.Upstream() == nil {
		return err
	}
	lease.Done(upstream.Outcome{Status: ctx.Response.StatusCode()})
	finishResponse(ctx)
	return nil
}

// send sends req to an upstream of svc through the HostClient that client
// returns for it (placed as a long-lived stream when stream is set, see
// upstream.Service.PickStream), with the time to the response bounded by the proxy
// timeout, and reads the answer into resp. A request that failed before
// reaching its upstream is retried once on another one when it is
// idempotent, carries no body and the retry budget allows.
//
// It returns the lease of the upstream that answered, still open: the
// caller ends it, at once or when a streamed body ends. When no attempt got
// an answer it writes the gateway's error answer into c instead and returns
// the zero Lease and the error of writing that answer.
func (p *Proxy) send(c *fiber.Ctx, svc *upstream.Service, req *fasthttp.Request, resp *fasthttp.Response,
	client func(*upstream.Upstream) *fasthttp.HostClient, stream bool) (upstream.Lease, error) {
	ctx := c.Context()
	// "*1" is the name Fiber gives the first wildcard; c.Params("*") builds
	// that name with a string concatenation per call.
	rest := c.Params("*1")
	query := ctx.URI().QueryString()
	r := newRetry(c, p.pool.RetryBudget(), stream)
	defer r.end()
	rt := middleware.TraceOf(c)
	for {
		lease, err := r.pick(svc)
		if err != nil {
			if r.retrying { // no other upstream to retry on: report the first failure
				resp.Reset()
				return upstream.Lease{}, p.fail(c, r.first)
			}
			return upstream.Lease{}, apierror.WriteRetry(c, fiber.StatusServiceUnavailable, msgNoUpstream, p.retryAfter)
		}
		u := lease.Upstream()
		c.Locals(LocalUpstream, u)
		setUpstreamURI(req, u, rest, query)
		span := startAttempt(rt, &req.Header, u, r.count())
		err = client(u).DoTimeout(req, resp, p.timeout)
		if err == nil {
			endAttempt(span, resp, failure{}, nil)
			return lease, nil
		}
		if f, ok := clientFailure(err); ok {
			endAttempt(span, resp, f, err)
			lease.Done(upstream.Outcome{Err: err, Canceled: true})
			resp.Reset()
			// The rest of the body is unread: the connection cannot carry
			// another request (the transport already closed the upstream's).
			ctx.SetConnectionClose()
			return upstream.Lease{}, apierror.Write(c, f.status, f.msg)
		}
		lease.Done(upstream.Outcome{Err: err}) // ErrPoolFull does not count against u
		f := classify(err)
		endAttempt(span, resp, f, err)
		if r.again(c, u, f, canRetry(req)) {
			continue
		}
		resp.Reset()
		return upstream.Lease{}, p.fail(c, f)
	}
}

// fail writes the gateway's answer to failure f.
func (p *Proxy) fail(c *fiber.Ctx, f failure) error {
	if f.busy {
		return apierror.WriteRetry(c, f.status, f.msg, p.busyAfter)
	}
	return apierror.Write(c, f.status, f.msg)
}

// canRetry reports whether sending req again cannot do its work twice:
// an idempotent method (RFC 9110 §9.2.2) and no body, which would already
// have been consumed from the client.
func canRetry(req *fasthttp.Request) bool {
	h := &req.Header
	if hasBody(h.ContentLength()) {
		return false
	}
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsPut() || h.IsDelete()
}

// prepareRequest fills req, bound upstream, from the client's request: its
// headers less the hop-by-hop ones, X-Forwarded-*, and its body as a stream
// so large uploads never sit whole in memory, read through body when it is
// not nil. It reports whether the client asked to close its connection.
func prepareRequest(req *fasthttp.Request, ctx *fasthttp.RequestCtx, trustedProxies []netip.Prefix, body *clientBody) bool {
	in := &ctx.Request
	clientClose := in.Header.ConnectionClose()
	in.Header.CopyTo(&req.Header)
	sent := scanSent(in.Header.RawHeaders())
	removeSentHops(&req.Header, sent)
	if sent&sentExpect != 0 {
		// fasthttp's server already answered any "Expect: 100-continue";
		// the client is not waiting for the upstream's.
		req.Header.Del(fasthttp.HeaderExpect)
	}
	forwarded.Set(&req.Header, ctx, trustedProxies)
	switch cl := in.Header.ContentLength(); {
	case !hasBody(cl):
	case body != nil:
		req.SetBodyStream(body, cl)
	case in.IsBodyStream():
		req.SetBodyStream(ctx.RequestBodyStream(), cl)
	default:
		req.SetBodyRaw(in.Body())
	}
	return clientClose
}

// hasBody reports whether a request with this fasthttp content length has
// a body: a length, or -1 for chunked. 0 and -2 (no framing, as on a GET)
// mean none.
func hasBody(contentLength int) bool { return contentLength > 0 || contentLength == -1 }

// setUpstreamURI points req at u: its base URL, "/", the rest of the client
// path and the raw query. The rest is appended verbatim (already checked
// for dot segments and encoded slashes), and a leading "//" in it stays in
// the path: the scheme and host in front are the upstream's own.
func setUpstreamURI(req *fasthttp.Request, u *upstream.Upstream, rest string, query []byte) {
	var buf [512]byte
	b := append(buf[:0], u.String()...)
	b = append(b, '/')
	b = append(b, rest...)
	if len(query) > 0 {
		b = append(b, '?')
		b = append(b, query...)
	}
	req.SetRequestURIBytes(b)
}

// finishResponse turns the upstream's response, already in ctx.Response,
// into the client's: hop-by-hop fields removed, the request id restored
// (the client's Do reset the response).
func finishResponse(ctx *fasthttp.RequestCtx) {
	removeResponseHops(&ctx.Response.Header)
	ctx.Response.Header.SetBytesV(apierror.HeaderRequestID, ctx.Request.Header.Peek(apierror.HeaderRequestID))
}
