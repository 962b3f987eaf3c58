// Package config owns the gateway's typed configuration: reading it from the
// environment and a .env file, its defaults, and its validation.
package config

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Config is the whole validated configuration of one gateway process.
// Every field maps to one environment variable, named in its comment and in
// its env tag; Load reads fields by that tag, and validation errors name it.
// Tag options: "lower" lower-cases the value, "secret" keeps it out of errors
// and untrimmed. Durations are read from whole milliseconds (the _MS suffix).
// The zero value is not usable; build one with Load or Default.
type Config struct {
	// Server.
	Port            int           `env:"PORT" validate:"min=1,max=65535"`                        // PORT (8080)
	Host            string        `env:"HOST" validate:"required"`                               // HOST (0.0.0.0)
	AppEnv          string        `env:"APP_ENV,lower" validate:"oneof=production development"`  // APP_ENV, alias NODE_ENV: "production" | "development" (development)
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT_MS" validate:"gt=0"`                    // SHUTDOWN_TIMEOUT_MS (10000)
	LogLevel        string        `env:"LOG_LEVEL,lower" validate:"oneof=debug info warn error"` // LOG_LEVEL: debug|info|warn|error (info)
	LogFormat       string        `env:"LOG_FORMAT,lower" validate:"oneof=json text"`            // LOG_FORMAT: json|text (json)

	// Upstreams.
	Upstreams        map[string][]string `env:"UPSTREAMS"`                                // UPSTREAMS (required): service → absolute http(s) base URLs
	ProxyTimeout     time.Duration       `env:"HTTP_PROXY_TIMEOUT_MS" validate:"gt=0"`    // HTTP_PROXY_TIMEOUT_MS (30000): time to response headers
	DialTimeout      time.Duration       `env:"UPSTREAM_DIAL_TIMEOUT_MS" validate:"gt=0"` // UPSTREAM_DIAL_TIMEOUT_MS (5000)
	UpstreamMaxConns int                 `env:"UPSTREAM_MAX_CONNS" validate:"min=1"`      // UPSTREAM_MAX_CONNS (1024): per upstream
	TrustedProxies   []netip.Prefix      `env:"TRUSTED_PROXIES"`                          // TRUSTED_PROXIES: comma-separated CIDRs or IPs (none)
	UpstreamPoolWait time.Duration       `env:"UPSTREAM_POOL_WAIT_MS" validate:"gt=0"`    // UPSTREAM_POOL_WAIT_MS (1000): wait for a free upstream connection before 503

	// Circuit breaker.
	CBFailureThreshold int           `env:"CB_FAILURE_THRESHOLD" validate:"min=1"`             // CB_FAILURE_THRESHOLD (5) consecutive failures
	CBFailureStatuses  []StatusRange `env:"CB_FAILURE_STATUSES"`                               // CB_FAILURE_STATUSES ("500-599"): comma-separated codes or ranges
	CBCooldown         time.Duration `env:"CB_COOLDOWN_MS" validate:"gt=0"`                    // CB_COOLDOWN_MS (10000)
	CBMaxCooldown      time.Duration `env:"CB_MAX_COOLDOWN_MS" validate:"gtefield=CBCooldown"` // CB_MAX_COOLDOWN_MS (300000)

	// Streams.
	SSEHeartbeat       time.Duration `env:"SSE_HEARTBEAT_MS" validate:"gte=0"`     // SSE_HEARTBEAT_MS (15000; 0 = off)
	WSPingInterval     time.Duration `env:"WS_PING_INTERVAL_MS" validate:"gt=0"`   // WS_PING_INTERVAL_MS (30000)
	WSMaxBufferedBytes int           `env:"WS_MAX_BUFFERED_BYTES" validate:"gt=0"` // WS_MAX_BUFFERED_BYTES (1048576)
	WSMaxMessageBytes  int           `env:"WS_MAX_MESSAGE_BYTES" validate:"gt=0"`  // WS_MAX_MESSAGE_BYTES (16777216)

	// Auth.
	AuthRequired      bool          `env:"AUTH_REQUIRED"`                       // AUTH_REQUIRED (true in production, else false)
	JWTSecret         string        `env:"JWT_SECRET,secret"`                   // JWT_SECRET (required, >= 32 chars, when auth is required)
	JWTLeeway         time.Duration `env:"JWT_LEEWAY_MS" validate:"gte=0"`      // JWT_LEEWAY_MS (30000)
	JWTForwardSubject bool          `env:"JWT_FORWARD_SUBJECT"`                 // JWT_FORWARD_SUBJECT (false)
	JWTJWKSURLs       []string      `env:"JWT_JWKS_URL"`                        // JWT_JWKS_URL: comma-separated http(s) URLs of JSON Web Key Sets (none)
	JWTJWKSRefresh    time.Duration `env:"JWT_JWKS_REFRESH_MS" validate:"gt=0"` // JWT_JWKS_REFRESH_MS (300000)
	JWTIssuer         string        `env:"JWT_ISSUER"`                          // JWT_ISSUER: required "iss" (empty = not checked)
	JWTAudience       []string      `env:"JWT_AUDIENCE"`                        // JWT_AUDIENCE: comma list; a token's "aud" must hold one (empty = not checked)
	JWTRequireExp     bool          `env:"JWT_REQUIRE_EXP"`                     // JWT_REQUIRE_EXP (true): a token without "exp" is refused

	// Rate limit.
	RateLimitMax           int           `env:"RATE_LIMIT_MAX" validate:"gte=0"`                 // RATE_LIMIT_MAX (0 = off)
	RateLimitWindow        time.Duration `env:"RATE_LIMIT_WINDOW_MS" validate:"gte=0"`           // RATE_LIMIT_WINDOW_MS (60000)
	RateLimitKey           string        `env:"RATE_LIMIT_KEY"`                                  // RATE_LIMIT_KEY: ip | sub | header:<Name> (ip)
	RedisURL               string        `env:"REDIS_URL"`                                       // REDIS_URL (empty = in memory)
	RateLimitRedisFailOpen bool          `env:"RATE_LIMIT_REDIS_FAIL_OPEN"`                      // RATE_LIMIT_REDIS_FAIL_OPEN (true)
	RateLimitIPv6Prefix    int           `env:"RATE_LIMIT_IPV6_PREFIX" validate:"min=1,max=128"` // RATE_LIMIT_IPV6_PREFIX (64): IPv6 clients are keyed per prefix of this length

	// Cache.
	CacheEnabled          bool          `env:"CACHE_ENABLED"`                         // CACHE_ENABLED (false)
	CacheDefaultTTL       time.Duration `env:"CACHE_DEFAULT_TTL_MS" validate:"gte=0"` // CACHE_DEFAULT_TTL_MS (60000)
	CacheMaxBodyBytes     int           `env:"CACHE_MAX_BODY_BYTES" validate:"gte=0"` // CACHE_MAX_BODY_BYTES (1048576)
	CacheMaxBytes         int64         `env:"CACHE_MAX_BYTES" validate:"gte=0"`      // CACHE_MAX_BYTES (67108864)
	CachePrivateBySubject bool          `env:"CACHE_PRIVATE_BY_SUBJECT"`              // CACHE_PRIVATE_BY_SUBJECT (false)
	CachePrivateHeaders   []string      `env:"CACHE_PRIVATE_HEADERS"`                 // CACHE_PRIVATE_HEADERS (Authorization,Cookie,Proxy-Authorization,X-Api-Key): requests carrying one bypass the shared cache

	// Load shedding; each limit is off when 0.
	MaxInflightRequests int           `env:"MAX_INFLIGHT_REQUESTS" validate:"gte=0"` // MAX_INFLIGHT_REQUESTS (0)
	MaxHeapBytes        uint64        `env:"MAX_HEAP_BYTES"`                         // MAX_HEAP_BYTES (0)
	MaxGoroutines       int           `env:"MAX_GOROUTINES" validate:"gte=0"`        // MAX_GOROUTINES (0)
	MaxSchedLatency     time.Duration `env:"MAX_SCHED_LATENCY_MS" validate:"gte=0"`  // MAX_SCHED_LATENCY_MS (0)
	PressureSample      time.Duration `env:"PRESSURE_SAMPLE_MS" validate:"gt=0"`     // PRESSURE_SAMPLE_MS (1000)

	// Server limits.
	ServerReadTimeout time.Duration `env:"SERVER_READ_TIMEOUT_MS" validate:"gt=0"` // SERVER_READ_TIMEOUT_MS (60000): reading one request's headers
	ServerIdleTimeout time.Duration `env:"SERVER_IDLE_TIMEOUT_MS" validate:"gt=0"` // SERVER_IDLE_TIMEOUT_MS (120000): idle keep-alive connection
	MaxHeaderBytes    int           `env:"MAX_HEADER_BYTES" validate:"min=1024"`   // MAX_HEADER_BYTES (16384): also the server's read buffer size
	MaxBodyBytes      int64         `env:"MAX_BODY_BYTES" validate:"gte=0"`        // MAX_BODY_BYTES (0 = unlimited; bodies stream through)
	MaxConns          int           `env:"MAX_CONNS" validate:"gte=0"`             // MAX_CONNS (0 = what the open-file limit holds, (RLIMIT_NOFILE-128)/3): open client connections, streams included
	MaxConnsPerIP     int           `env:"MAX_CONNS_PER_IP" validate:"gte=0"`      // MAX_CONNS_PER_IP (0 = unlimited)
	ClientBodyTimeout time.Duration `env:"CLIENT_BODY_TIMEOUT_MS" validate:"gt=0"` // CLIENT_BODY_TIMEOUT_MS (30000): silence between two reads of a request body

	// Reload.
	ConfigWatch bool `env:"CONFIG_WATCH"` // CONFIG_WATCH (false): also reload when .env changes; SIGHUP always reloads

	// Exposure.
	AdminAddr string `env:"ADMIN_ADDR"` // ADMIN_ADDR (empty = the main listener): host:port serving /admin, /admin/stats, /admin/decisions, /metrics, /_pressure
	PprofAddr string `env:"PPROF_ADDR"` // PPROF_ADDR (empty = off): host:port of an admin-only net/http/pprof listener

	// Drain.
	ShutdownDelay           time.Duration `env:"SHUTDOWN_DELAY_MS" validate:"gte=0"`               // SHUTDOWN_DELAY_MS (0): /readyz is 503 this long before the listener closes
	StreamDrain             time.Duration `env:"STREAM_DRAIN_MS" validate:"gte=0"`                 // STREAM_DRAIN_MS (0 = all at once): spread stream closes over this window
	StreamMaxAgeAfterRemove time.Duration `env:"STREAM_MAX_AGE_AFTER_REMOVAL_MS" validate:"gte=0"` // STREAM_MAX_AGE_AFTER_REMOVAL_MS (0 = forever)

	// Routing.
	DecisionLogSize      int           `env:"DECISION_LOG_SIZE" validate:"gte=0"`                // DECISION_LOG_SIZE (4096; 0 = off)
	SlowStart            time.Duration `env:"SLOW_START_MS" validate:"gte=0"`                    // SLOW_START_MS (0 = off)
	HealthCheckPath      string        `env:"HEALTH_CHECK_PATH"`                                 // HEALTH_CHECK_PATH (empty = off)
	HealthCheckInterval  time.Duration `env:"HEALTH_CHECK_INTERVAL_MS" validate:"gt=0"`          // HEALTH_CHECK_INTERVAL_MS (5000)
	HealthCheckTimeout   time.Duration `env:"HEALTH_CHECK_TIMEOUT_MS" validate:"gt=0"`           // HEALTH_CHECK_TIMEOUT_MS (1000)
	HealthCheckUnhealthy int           `env:"HEALTH_CHECK_UNHEALTHY_THRESHOLD" validate:"min=1"` // HEALTH_CHECK_UNHEALTHY_THRESHOLD (2)
	HealthCheckHealthy   int           `env:"HEALTH_CHECK_HEALTHY_THRESHOLD" validate:"min=1"`   // HEALTH_CHECK_HEALTHY_THRESHOLD (2)

	// Tracing: the OpenTelemetry SDK's standard variables, read here like
	// every other one (so a value set in .env counts) and handed to the SDK
	// as explicit options. No endpoint, or OTEL_SDK_DISABLED: no export.
	OTelEndpoint           string  `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`                                                                                                                        // OTEL_EXPORTER_OTLP_ENDPOINT: base URL; http/protobuf appends /v1/traces (none)
	OTelTracesEndpoint     string  `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`                                                                                                                 // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the traces URL as is; wins over the base (none)
	OTelProtocol           string  `env:"OTEL_EXPORTER_OTLP_PROTOCOL,lower" validate:"oneof=http/protobuf grpc"`                                                                              // OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf | grpc (http/protobuf)
	OTelHeaders            string  `env:"OTEL_EXPORTER_OTLP_HEADERS,secret"`                                                                                                                  // OTEL_EXPORTER_OTLP_HEADERS: k=v,k2=v2, values percent-encoded (none)
	OTelServiceName        string  `env:"OTEL_SERVICE_NAME" validate:"required"`                                                                                                              // OTEL_SERVICE_NAME (gateway)
	OTelResourceAttributes string  `env:"OTEL_RESOURCE_ATTRIBUTES"`                                                                                                                           // OTEL_RESOURCE_ATTRIBUTES: k=v,k2=v2 (none)
	OTelSampler            string  `env:"OTEL_TRACES_SAMPLER,lower" validate:"oneof=always_on always_off traceidratio parentbased_always_on parentbased_always_off parentbased_traceidratio"` // OTEL_TRACES_SAMPLER (parentbased_always_on)
	OTelSamplerArg         float64 `env:"OTEL_TRACES_SAMPLER_ARG" validate:"gte=0,lte=1"`                                                                                                     // OTEL_TRACES_SAMPLER_ARG: the ratio of the traceidratio samplers (1.0)
	OTelSDKDisabled        bool    `env:"OTEL_SDK_DISABLED"`                                                                                                                                  // OTEL_SDK_DISABLED (false)
}

// StatusRange is an inclusive range of HTTP status codes, such as 500-599.
type StatusRange struct{ Lo, Hi int }

// Contains reports whether status lies in the range.
func (r StatusRange) Contains(status int) bool { return status >= r.Lo && status <= r.Hi }

// Production reports whether AppEnv is "production".
func (c *Config) Production() bool { return c.AppEnv == "production" }

// Addr is the listen address, Host and Port joined by net.JoinHostPort so an
// IPv6 host comes out bracketed ("[::1]:8080").
func (c *Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }
