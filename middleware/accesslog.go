package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// UpstreamNamer is what the access log needs of the upstream a handler
// left in Locals: its base URL and service. *upstream.Upstream satisfies it.
type UpstreamNamer interface {
	String() string
	Service() string
}

// AccessLog logs one line per request at Info after it is answered: request
// id, trace id (W3C Trace Context, as the Trace middleware left it; it must
// run first), method, path, service, upstream, retries, status, duration and
// response bytes. upstreamKey and retriesKey are the Locals keys under which
// handlers leave the upstream that answered and the number of retries (an
// int). When Info is disabled for logger it costs one check per request.
func AccessLog(logger *slog.Logger, upstreamKey, retriesKey string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !logger.Enabled(context.Background(), slog.LevelInfo) {
			return c.Next()
		}
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let Fiber's error handler write the answer first, so the line
			// has the status the client sees.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		up, service := "", ""
		if u, ok := c.Locals(upstreamKey).(UpstreamNamer); ok && u != nil {
			up, service = u.String(), u.Service()
		}
		retries, _ := c.Locals(retriesKey).(int)
		resp := c.Response()
		logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("requestId", string(GetRequestID(c))),
			slog.String("traceId", string(TraceID(c))),
			slog.String("method", c.Method()),
			slog.String("path", c.Path()),
			slog.String("service", service),
			slog.String("upstream", up),
			slog.Int("retries", retries),
			slog.Int("status", resp.StatusCode()),
			slog.Duration("duration", time.Since(start)),
			slog.Int("bytes", bodyBytes(resp)),
		)
		return err
	}
}

// bodyBytes is the response body's size, or -1 for a body still streaming
// (it is sent after the handler returns).
func bodyBytes(resp *fasthttp.Response) int {
	if resp.IsBodyStream() {
		return resp.Header.ContentLength()
	}
	return len(resp.Body())
}
