package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/handlers"
	"gateway/internal/apierror"
	"gateway/middleware"
)

// refresher returns the cache's stale-while-revalidate Refresher: each
// refresh is a request of the gateway's own, sent through the proxy's pool
// (handlers.Proxy.Fetch) under a fresh request id, never the id of the
// client whose request met the stale entry, and logged with both so the
// two can be told apart and joined.
func (a *App) refresher(proxy *handlers.Proxy) middleware.Refresher {
	return middleware.RefreshFunc(func(ctx context.Context, r *middleware.RefreshRequest, resp *fasthttp.Response) error {
		var buf [64]byte
		id := a.ids.Append(buf[:0])
		r.Header.Del(apierror.HeaderRequestID)
		r.Header.SetBytesV(apierror.HeaderRequestID, id)
		start := time.Now()
		err := proxy.Fetch(r.Service, r.PathQuery, r.Header, resp)
		attrs := []slog.Attr{
			slog.String("requestId", string(id)),
			slog.String("triggeredBy", r.TriggerID),
			slog.String("service", r.Service),
			slog.String("path", r.PathQuery),
			slog.Duration("duration", time.Since(start)),
		}
		if err != nil {
			a.log.LogAttrs(ctx, slog.LevelWarn, "cache refresh failed", append(attrs, slog.String("error", err.Error()))...)
			return err
		}
		a.log.LogAttrs(ctx, slog.LevelInfo, "cache refresh", append(attrs, slog.Int("status", resp.StatusCode()))...)
		return nil
	})
}
