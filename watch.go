package main

import (
	"context"
	"log/slog"
	"time"

	"gateway/app"
	"gateway/config"
	"gateway/internal/configwatch"
)

// watchQuiet is how long ./.env's directory must be still before the file
// is read after an event: long against a writer's truncate-then-write or the
// kubelet's renames (microseconds), short against anyone waiting on a reload.
const watchQuiet = 100 * time.Millisecond

// watchConfig reloads, as SIGHUP does, each time ./.env's content changes,
// until ctx is done (CONFIG_WATCH=true). seen is the content serve loaded.
// A watch that cannot start is logged and the gateway serves on: SIGHUP
// still reloads.
func watchConfig(ctx context.Context, gw *app.App, log *slog.Logger, seen []byte) {
	w, err := configwatch.New(envFile, seen, watchQuiet, log)
	if err != nil {
		log.Error("config watch not started; SIGHUP still reloads", slog.Any("error", err))
		return
	}
	log.Info("watching for configuration changes", slog.String("file", envFile))
	w.Run(ctx, func() { reload(gw, log, "file changed") })
}

// reload loads the configuration again and applies it; an invalid one is
// refused with a log line and the running configuration keeps serving.
func reload(gw *app.App, log *slog.Logger, cause string) {
	cfg, err := config.Load(envFile)
	if err != nil {
		log.Error("reload refused: invalid configuration", slog.String("cause", cause), slog.Any("error", err))
		return
	}
	if err := gw.Reload(cfg); err != nil {
		log.Error("reload failed", slog.String("cause", cause), slog.Any("error", err))
	}
}
