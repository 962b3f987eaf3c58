package app

import (
	"log/slog"

	"gateway/config"
	"gateway/upstream"
)

// poolOptions translates the configuration into the pool's options, so the
// upstream package needs no knowledge of environment variables.
func poolOptions(cfg *config.Config, log *slog.Logger) upstream.Options {
	statuses := cfg.CBFailureStatuses
	return upstream.Options{
		Services:         cfg.Upstreams,
		DialTimeout:      cfg.DialTimeout,
		ProxyTimeout:     cfg.ProxyTimeout,
		MaxConns:         cfg.UpstreamMaxConns,
		FailureThreshold: cfg.CBFailureThreshold,
		FailureStatus: func(status int) bool {
			for _, r := range statuses {
				if r.Contains(status) {
					return true
				}
			}
			return false
		},
		Cooldown:    cfg.CBCooldown,
		MaxCooldown: cfg.CBMaxCooldown,
		OnStateChange: func(u *upstream.Upstream, from, to upstream.State, reason string) {
			log.Warn("upstream "+to.String(),
				slog.String("service", u.Service()),
				slog.String("upstream", u.String()),
				slog.String("from", from.String()),
				slog.String("reason", reason))
		},
	}
}
