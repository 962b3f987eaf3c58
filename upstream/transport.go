package upstream

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// bufferedBodyLimit is the largest response body, of a length announced in
// Content-Length, that the transport reads whole before returning; longer
// and chunked bodies stream.
const bufferedBodyLimit = 64 << 10

// maxInterimResponses bounds the 1xx answers skipped before the real one.
const maxInterimResponses = 16

var errTooManyInterim = errors.New("upstream sent too many 1xx responses")

// ErrPoolFull is a request that got no connection to its upstream within
// the pool wait: every one of MaxConns was busy. It is the gateway's own
// limit, not the upstream's failure, so it never counts against the
// upstream (breaker, latency penalty, failure stats); the proxy answers
// 503 with Retry-After. Slow clients holding connections (stalled uploads)
// are the usual cause, and must not be able to make the gateway eject a
// healthy upstream.
var ErrPoolFull = errors.New("upstream connection limit reached")

// transport is the RoundTripper of an upstream's ordinary HostClient.
//
// fasthttp's own transport, with StreamResponseBody on, wraps every
// response body in a stream object and three closures: four allocations
// per request even for a 20-byte JSON answer, and the upstream connection
// stays taken until the client has been sent the whole body. This one reads
// the headers first and then decides: a body of known length up to
// bufferedBodyLimit is read at once and the connection goes straight back
// to the pool, with nothing allocated; a longer or chunked body streams
// through a pooled streamBody that returns the connection when the body
// ends. It uses only HostClient's exported connection API (AcquireConn,
// ReleaseConn, CloseConn, AcquireReader, AcquireWriter).
type transport struct {
	timeout time.Duration // waiting for the response headers
	// streamAll streams every body, however short (the StreamClient's:
	// an event stream with a Content-Length must still be relayed as it
	// comes, not read whole under the time-to-headers deadline).
	streamAll bool
	bodies    sync.Pool        // *streamBody[C] for fasthttp's connection type C
	discards  *discardCounters // the upstream's; nil counts nothing
}

var _ fasthttp.RoundTripper = (*transport)(nil)

// RoundTrip sends req on a connection of hc and reads the answer into resp.
// It never asks fasthttp to retry: the gateway retries on its own.
func (t *transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	for range maxDirtyConns {
		// A zero request timeout makes AcquireConn wait for a free
		// connection exactly the client's MaxConnWaitTimeout (the pool
		// wait) and then fail with ErrNoFreeConns, never with the
		// ErrTimeout an upstream's slowness would give.
		cc, err := hc.AcquireConn(0, req.ConnectionClose())
		if errors.Is(err, fasthttp.ErrNoFreeConns) {
			return false, ErrPoolFull
		}
		if err != nil {
			return false, err
		}
		if r, dirty := idleDirty(cc.Conn()); dirty {
			t.discards.count(r)
			hc.CloseConn(cc)
			continue
		}
		// fasthttp does not export its connection type; the generic helpers
		// infer it, and the method expressions release or close it.
		return false, roundTrip(t, hc, cc, connOps(cc, (*fasthttp.HostClient).ReleaseConn, (*fasthttp.HostClient).CloseConn), req, resp)
	}
	return false, errDirtyConns
}

// maxDirtyConns bounds the pooled connections one request discards before
// it gives up: each discard closes a connection, so the pool soon runs out
// of dirty ones and dials, but an upstream dirtying every connection as
// fast as they are reused must not keep a request looping.
const maxDirtyConns = 8

var errDirtyConns = errors.New("upstream left bytes on every pooled connection tried")

// idleDirty reports whether the connection just taken from the pool must
// be discarded, and why; a connection that cannot be checked (TLS, see
// idleChecker) is taken as clean. A fresh connection is checked too: one
// peek, next to a dial, costs nothing worth a flag.
func idleDirty(c net.Conn) (DiscardReason, bool) {
	ic, ok := c.(idleChecker)
	if !ok {
		return 0, false
	}
	switch ic.idleState() {
	case idleBytes:
		return DiscardIdleBytes, true
	case idleClosed:
		return DiscardIdleClosed, true
	}
	return 0, false
}

// conn is what the transport needs of fasthttp's pooled connection.
type conn interface{ Conn() net.Conn }

// ops returns a connection to its pool or closes it.
type ops[C conn] struct{ release, close func(*fasthttp.HostClient, C) }

func connOps[C conn](_ C, release, close func(*fasthttp.HostClient, C)) ops[C] {
	return ops[C]{release: release, close: close}
}

func roundTrip[C conn](t *transport, hc *fasthttp.HostClient, cc C, o ops[C], req *fasthttp.Request, resp *fasthttp.Response) error {
	c := cc.Conn()
	resp.ParseNetConn(c)
	if err := c.SetWriteDeadline(time.Now().Add(orTimeout(hc.WriteTimeout, t.timeout))); err != nil {
		o.close(hc, cc)
		return err
	}
	bw := hc.AcquireWriter(c)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		o.close(hc, cc)
		return normalize(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(t.timeout)); err != nil {
		o.close(hc, cc)
		return err
	}
	br := hc.AcquireReader(c)
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	if err := readHeader(resp, br); err != nil {
		hc.ReleaseReader(br)
		o.close(hc, cc)
		return normalize(err)
	}
	// A 101 hands the connection over to another protocol: whatever
	// follows is not HTTP, so it never goes back to the pool.
	closeConn := req.ConnectionClose() || resp.ConnectionClose() || resp.StatusCode() == fasthttp.StatusSwitchingProtocols
	cl := resp.Header.ContentLength()
	switch {
	case req.Header.IsHead() || noBody(resp.StatusCode()):
		resp.SkipBody = true
	case cl >= 0 && cl <= bufferedBodyLimit && !t.streamAll:
		resp.StreamBody = false
		err = resp.ReadBody(br, bufferedBodyLimit)
	default:
		sb := getBody[C](&t.bodies)
		sb.start(&t.bodies, hc, cc, o, br, cl, closeConn, t.discards)
		if cl < 0 {
			cl = -1 // chunked or until close upstream: chunked to the client
		}
		resp.SetBodyStream(sb, cl)
		return nil
	}
	dirty := err == nil && !closeConn && unreadBytes(br)
	hc.ReleaseReader(br)
	if dirty {
		t.discards.count(DiscardUnreadBytes)
	}
	if err != nil || closeConn || dirty {
		o.close(hc, cc)
		return normalize(err)
	}
	o.release(hc, cc)
	return nil
}

// readHeader reads the response header, skipping interim 1xx answers
// (but not 101, which ends the exchange).
func readHeader(resp *fasthttp.Response, br *bufio.Reader) error {
	for n := 0; ; n++ {
		if err := resp.Header.Read(br); err != nil {
			return err
		}
		if s := resp.StatusCode(); s < 100 || s > 199 || s == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if n >= maxInterimResponses {
			return errTooManyInterim
		}
	}
}

// noBody reports statuses whose responses never have a body (RFC 9110 §6.4.1).
func noBody(status int) bool {
	return status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

func orTimeout(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

// normalize maps errors as fasthttp's own transport does: any timeout is
// fasthttp.ErrTimeout, an upstream that closed before answering is
// fasthttp.ErrConnectionClosed.
func normalize(err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fasthttp.ErrTimeout
	}
	if errors.Is(err, io.EOF) {
		return fasthttp.ErrConnectionClosed
	}
	return err
}
