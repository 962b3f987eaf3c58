package app

import (
	"context"
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
		PoolWait:         cfg.UpstreamPoolWait,
		FailureThreshold: cfg.CBFailureThreshold,
		FailureStatus: func(status int) bool {
			for _, r := range statuses {
				if r.Contains(status) {
					return true
				}
			}
			return false
		},
		Cooldown:        cfg.CBCooldown,
		MaxCooldown:     cfg.CBMaxCooldown,
		DecisionLogSize: cfg.DecisionLogSize,
		HealthCheck: upstream.HealthCheck{
			Path:               cfg.HealthCheckPath,
			Interval:           cfg.HealthCheckInterval,
			Timeout:            cfg.HealthCheckTimeout,
			UnhealthyThreshold: cfg.HealthCheckUnhealthy,
			HealthyThreshold:   cfg.HealthCheckHealthy,
		},
		OnHealthChange: func(u *upstream.Upstream, healthy bool, reason string) {
			msg, level := "upstream unhealthy", slog.LevelWarn
			if healthy {
				msg, level = "upstream healthy", slog.LevelInfo
			}
			log.LogAttrs(context.Background(), level, msg,
				slog.String("service", u.Service()),
				slog.String("upstream", u.String()),
				slog.String("reason", reason))
		},
		OnStateChange: func(u *upstream.Upstream, from, to upstream.State, reason string) {
			msg, level := breakerEvent(to)
			log.LogAttrs(context.Background(), level, msg,
				slog.String("service", u.Service()),
				slog.String("upstream", u.String()),
				slog.String("from", from.String()),
				slog.String("to", to.String()),
				slog.String("reason", reason))
		},
	}
}

// breakerEvent is the log message and level of a breaker transition:
// "upstream opened" is a warning (an upstream was taken out of rotation);
// "upstream half-open" and "upstream closed" are its recovery.
func breakerEvent(to upstream.State) (string, slog.Level) {
	switch to {
	case upstream.StateOpen:
		return "upstream opened", slog.LevelWarn
	case upstream.StateHalfOpen:
		return "upstream half-open", slog.LevelInfo
	}
	return "upstream closed", slog.LevelInfo
}
