package handlers

import (
	"errors"
	"io"
	"sync"
	"time"
)

// errBodyTooLarge is a client body that went past MAX_BODY_BYTES while it
// streamed (a chunked body announces no length to check up front).
var errBodyTooLarge = errors.New("request body larger than MAX_BODY_BYTES")

// clientError is a failure of the client's side of an exchange, met while
// its body streamed upstream: the client vanished mid-upload, or sent more
// than allowed. It is not the upstream's failure, so it must neither feed
// the breaker nor be retried. It deliberately has no Unwrap: the transport
// turns any wrapped timeout into the upstream's ErrTimeout, and a client's
// read timeout is not that.
type clientError struct{ err error }

func (e *clientError) Error() string { return "reading the client's request body: " + e.err.Error() }

// clientBody is the client's request body on its way upstream; it tags the
// errors that are the client's (see clientError), enforces MAX_BODY_BYTES
// on bodies of unannounced length, and bounds the client's silence.
// Pooled by clientBodies.
//
// The silence bound is nginx's client_body_timeout: before every read the
// client connection's read deadline moves to idle from now, so a body may
// take as long as it likes while it keeps coming, and one that stops for
// longer than idle fails with a timeout (answered 408, see clientFailure).
// The same move lifts the server's ReadTimeout (SERVER_READ_TIMEOUT_MS),
// set by fasthttp before the request head and otherwise still in force
// for the whole streamed body, so that timeout bounds the head only.
// fasthttp clears a deadline its handler set once the handler returns.
type clientBody struct {
	r    io.Reader
	conn readDeadliner // nil: no silence bound
	idle time.Duration
	max  int64 // 0: no limit
	want int64 // the announced Content-Length; -1 when chunked
	read int64
}

// readDeadliner is the client connection's read deadline, as
// fasthttp.RequestCtx offers it.
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// Read reads the client's body.
func (b *clientBody) Read(p []byte) (int, error) {
	if b.conn != nil && b.idle > 0 {
		// One timer update per read of the body stream (fasthttp reads
		// it in buffer-sized pieces): cheap next to the read itself, and
		// exact, where a coarser renewal would cut a silence shorter
		// than idle.
		if err := b.conn.SetReadDeadline(time.Now().Add(b.idle)); err != nil {
			return 0, &clientError{err}
		}
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	switch {
	case b.max > 0 && b.read > b.max:
		return n, &clientError{errBodyTooLarge}
	case errors.Is(err, io.EOF) && b.want >= 0 && b.read < b.want:
		// fasthttp's server stream ends early, without an error, when the
		// client goes away before its announced length.
		return n, &clientError{io.ErrUnexpectedEOF}
	case err != nil && !errors.Is(err, io.EOF):
		return n, &clientError{err}
	}
	return n, err
}

// clientBodies pools clientBody values, so a streamed upload costs no
// allocation in steady state.
type clientBodies struct{ pool sync.Pool }

// get returns a clientBody over r, announced as contentLength bytes (-1:
// chunked), allowed maxBytes (0: no limit), with at most idle of silence
// between two reads on conn (conn nil or idle 0: no bound).
func (cb *clientBodies) get(r io.Reader, contentLength int, maxBytes int64, conn readDeadliner, idle time.Duration) *clientBody {
	b, ok := cb.pool.Get().(*clientBody)
	if !ok {
		b = &clientBody{}
	}
	*b = clientBody{r: r, conn: conn, idle: idle, max: maxBytes, want: int64(contentLength)}
	return b
}

func (cb *clientBodies) put(b *clientBody) {
	*b = clientBody{}
	cb.pool.Put(b)
}
