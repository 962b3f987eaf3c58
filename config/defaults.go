package config

import "time"

// Default returns the configuration used for every variable that is not set:
// development mode, so AuthRequired is false, and no Upstreams, which Load
// requires. Each call returns a fresh value the caller may change.
func Default() *Config {
	return &Config{
		Port:            8080,
		Host:            "0.0.0.0",
		AppEnv:          "development",
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "info",
		LogFormat:       "json",

		ProxyTimeout:     30 * time.Second,
		DialTimeout:      5 * time.Second,
		UpstreamMaxConns: 1024,
		UpstreamPoolWait: time.Second,

		CBFailureThreshold: 5,
		CBFailureStatuses:  []StatusRange{{Lo: 500, Hi: 599}},
		CBCooldown:         10 * time.Second,
		CBMaxCooldown:      300 * time.Second,

		SSEHeartbeat:       15 * time.Second,
		WSPingInterval:     30 * time.Second,
		WSMaxBufferedBytes: 1 << 20,
		WSMaxMessageBytes:  16 << 20,

		JWTLeeway:      30 * time.Second,
		JWTJWKSRefresh: 300 * time.Second,
		JWTRequireExp:  true,

		RateLimitWindow:        60 * time.Second,
		RateLimitKey:           "ip",
		RateLimitRedisFailOpen: true,
		RateLimitIPv6Prefix:    64,

		CacheDefaultTTL:     60 * time.Second,
		CacheMaxBodyBytes:   1 << 20,
		CacheMaxBytes:       64 << 20,
		CachePrivateHeaders: []string{"Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key"},

		PressureSample: time.Second,

		ServerReadTimeout: 60 * time.Second,
		ServerIdleTimeout: 120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ClientBodyTimeout: 30 * time.Second,

		DecisionLogSize:      4096,
		HealthCheckInterval:  5 * time.Second,
		HealthCheckTimeout:   time.Second,
		HealthCheckUnhealthy: 2,
		HealthCheckHealthy:   2,

		OTelProtocol:    "http/protobuf",
		OTelServiceName: "gateway",
		OTelSampler:     "parentbased_always_on",
		OTelSamplerArg:  1,
	}
}
