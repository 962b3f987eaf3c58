package handlers

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"

	"gateway/upstream"
)

// failure is how the gateway answers one kind of upstream failure: the
// status, the message of the JSON error body, and whether the failure
// happened before the upstream saw the request, so that a retry on another
// upstream cannot do the work twice.
type failure struct {
	status    int
	msg       string
	retryable bool
	// busy is the gateway's own connection limit, not the upstream's
	// failure: answered 503 with a Retry-After, never retried (another
	// wait would only spread what holds the connections).
	busy bool
}

// Messages of the gateway's own error answers (also used by the tests).
const (
	msgUnknownService = "unknown service"
	msgNoUpstream     = "no upstream available"
	msgTimeout        = "upstream timed out"
	msgUnreachable    = "upstream unreachable"
	msgBadResponse    = "bad upstream response"
	msgBusy           = "upstream connection limit reached"
	msgBodyTooLarge   = "request body too large"
	msgBodyIncomplete = "request body incomplete"
	msgBodyTimeout    = "request body timed out"
)

// classify maps an error of an upstream exchange to the answer, in the one
// place that does so (style.md idiom 6): no upstream → 503, timeout → 504,
// refused/reset/closed → 502, connection limit → 503.
//
// Connection refused and a connection the upstream closed or reset before
// answering are retryable: either nothing reached the upstream, or a pooled
// keep-alive connection died under us (the "reset on a reused connection"
// case). A read timeout is not: the upstream may be working on it.
func classify(err error) failure {
	switch {
	case errors.Is(err, upstream.ErrNoUpstream):
		return failure{fasthttp.StatusServiceUnavailable, msgNoUpstream, false, false}
	case errors.Is(err, upstream.ErrPoolFull):
		return failure{status: fasthttp.StatusServiceUnavailable, msg: msgBusy, busy: true}
	case errors.Is(err, fasthttp.ErrDialTimeout), isDialError(err) && isNetTimeout(err):
		// nginx answers a connect timeout with 504 too; nothing was sent.
		return failure{fasthttp.StatusGatewayTimeout, msgTimeout, true, false}
	case errors.Is(err, syscall.ECONNREFUSED), isDialError(err):
		return failure{fasthttp.StatusBadGateway, msgUnreachable, true, false}
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded), isNetTimeout(err):
		return failure{fasthttp.StatusGatewayTimeout, msgTimeout, false, false}
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return failure{fasthttp.StatusBadGateway, msgUnreachable, true, false}
	default:
		return failure{fasthttp.StatusBadGateway, msgBadResponse, false, false}
	}
}

// clientFailure reports whether err was the client's, met while its body
// streamed upstream, and how to answer: 413 for a body past MAX_BODY_BYTES,
// 408 for a body silent past CLIENT_BODY_TIMEOUT_MS (nginx's answer to
// client_body_timeout), else 400 (the client has most likely gone; nginx
// logs such a request 499).
func clientFailure(err error) (failure, bool) {
	var ce *clientError
	if !errors.As(err, &ce) {
		return failure{}, false
	}
	switch {
	case errors.Is(ce.err, errBodyTooLarge):
		return failure{fasthttp.StatusRequestEntityTooLarge, msgBodyTooLarge, false, false}, true
	case errors.Is(ce.err, os.ErrDeadlineExceeded), isNetTimeout(ce.err):
		return failure{fasthttp.StatusRequestTimeout, msgBodyTimeout, false, false}, true
	}
	return failure{fasthttp.StatusBadRequest, msgBodyIncomplete, false, false}, true
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
