package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"gateway/internal/apierror"
)

// Recoverer turns a panic in any handler behind it into a logged 500 in the
// gateway's JSON error shape, so that one bad request never takes the
// process down: fasthttp, unlike net/http, does not recover panics itself.
// It counts what it recovered. Use one per app; the zero value is not
// usable (see NewRecoverer).
type Recoverer struct {
	log    *slog.Logger
	ids    *RequestIDs
	panics atomic.Int64
}

// NewRecoverer returns a Recoverer logging to log. ids issues a request id
// for a panic that happened before the request-id middleware gave the
// request one, so that the answer and the log line still carry one.
func NewRecoverer(log *slog.Logger, ids *RequestIDs) *Recoverer {
	return &Recoverer{log: log, ids: ids}
}

// Panics is the number of panics recovered since start.
func (r *Recoverer) Panics() int64 { return r.panics.Load() }

// Handler is the middleware; install it first, so that it covers every
// middleware and handler after it.
//
// On a panic it logs the value and the stack at Error with the request id,
// method and path, discards whatever response had been built (headers, a
// body stream, a pending hijack), and answers 500 with Connection: close:
// the request body may be half read, so the connection is not reused, as
// net/http's server closes a connection whose handler panicked.
func (r *Recoverer) Handler() fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			r.panics.Add(1)
			r.answer(c, v, debug.Stack())
			err = nil
		}()
		return c.Next()
	}
}

// answer logs the panic v and writes the 500.
func (r *Recoverer) answer(c *fiber.Ctx, v any, stack []byte) {
	ctx := c.Context()
	h := &ctx.Request.Header
	if !ValidRequestID(h.Peek(apierror.HeaderRequestID)) {
		var buf [48]byte
		h.Del(apierror.HeaderRequestID)
		h.SetBytesV(apierror.HeaderRequestID, r.ids.Append(buf[:0]))
	}
	r.log.LogAttrs(context.Background(), slog.LevelError, "handler panic",
		slog.String("requestId", string(h.Peek(apierror.HeaderRequestID))),
		slog.String("method", c.Method()),
		slog.String("path", c.Path()),
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(stack)),
	)
	ctx.Hijack(nil) // a handler may have asked for the connection before it panicked
	ctx.HijackSetNoResponse(false)
	ctx.Response.Reset()
	ctx.SetConnectionClose()
	_ = apierror.Write(c, fiber.StatusInternalServerError, utils.StatusMessage(fiber.StatusInternalServerError))
}
