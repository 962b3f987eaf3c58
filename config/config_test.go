package config

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// validConfig is Default plus the one thing Default leaves out.
func validConfig() *Config {
	c := Default()
	c.Upstreams = map[string][]string{"users": {"http://127.0.0.1:9001"}}
	return c
}

// problemVars returns the variables an error names, failing the test when
// err is not an *Error.
func problemVars(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	var vars []string
	for _, p := range ce.Problems {
		if !slices.Contains(vars, p.Var) {
			vars = append(vars, p.Var)
		}
	}
	return vars
}

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Port", c.Port, 8080},
		{"Host", c.Host, "0.0.0.0"},
		{"AppEnv", c.AppEnv, "development"},
		{"AuthRequired", c.AuthRequired, false},
		{"Upstreams", c.Upstreams == nil, true},
		{"CBFailureStatuses", c.CBFailureStatuses, []StatusRange{{500, 599}}},
		{"CBMaxCooldown", c.CBMaxCooldown, 300 * time.Second},
		{"WSMaxMessageBytes", c.WSMaxMessageBytes, 16777216},
		{"CacheMaxBytes", c.CacheMaxBytes, int64(67108864)},
		{"RateLimitKey", c.RateLimitKey, "ip"},
		{"RateLimitRedisFailOpen", c.RateLimitRedisFailOpen, true},
		{"MaxHeaderBytes", c.MaxHeaderBytes, 16384},
		{"ServerIdleTimeout", c.ServerIdleTimeout, 120 * time.Second},
		{"UpstreamPoolWait", c.UpstreamPoolWait, time.Second},
		{"ClientBodyTimeout", c.ClientBodyTimeout, 30 * time.Second},
		{"RateLimitIPv6Prefix", c.RateLimitIPv6Prefix, 64},
		{"CachePrivateHeaders", strings.Join(c.CachePrivateHeaders, ","), "Authorization,Cookie,Proxy-Authorization,X-Api-Key"},
		{"JWTJWKSRefresh", c.JWTJWKSRefresh, 300 * time.Second},
		{"JWTRequireExp", c.JWTRequireExp, true},
		{"ShutdownDelay", c.ShutdownDelay, time.Duration(0)},
		{"StreamDrain", c.StreamDrain, time.Duration(0)},
		{"DecisionLogSize", c.DecisionLogSize, 4096},
		{"HealthCheckPath", c.HealthCheckPath, ""},
		{"HealthCheckInterval", c.HealthCheckInterval, 5 * time.Second},
		{"HealthCheckTimeout", c.HealthCheckTimeout, time.Second},
		{"HealthCheckUnhealthy", c.HealthCheckUnhealthy, 2},
		{"HealthCheckHealthy", c.HealthCheckHealthy, 2},
	}
	for _, tc := range checks {
		if !equal(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Only the required UPSTREAMS is missing from the defaults.
	if got := problemVars(t, c.Validate()); !slices.Equal(got, []string{"UPSTREAMS"}) {
		t.Errorf("Default().Validate() names %v, want [UPSTREAMS]", got)
	}
	// Each call is independent.
	c.CBFailureStatuses[0].Lo = 400
	if Default().CBFailureStatuses[0].Lo != 500 {
		t.Error("Default shares its slices between calls")
	}
}

func equal(a, b any) bool {
	if as, ok := a.([]StatusRange); ok {
		bs, _ := b.([]StatusRange)
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestAddr(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"0.0.0.0", 8080, "0.0.0.0:8080"},
		{"localhost", 1, "localhost:1"},
		{"::1", 9000, "[::1]:9000"},
	}
	for _, tc := range tests {
		c := &Config{Host: tc.host, Port: tc.port}
		if got := c.Addr(); got != tc.want {
			t.Errorf("Addr(%q, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // variables named, in order; nil = valid
	}{
		{"valid", func(*Config) {}, nil},
		{"port zero", func(c *Config) { c.Port = 0 }, []string{"PORT"}},
		{"port too big", func(c *Config) { c.Port = 65536 }, []string{"PORT"}},
		{"port max", func(c *Config) { c.Port = 65535 }, nil},
		{"empty host", func(c *Config) { c.Host = "" }, []string{"HOST"}},
		{"bad env", func(c *Config) { c.AppEnv = "staging" }, []string{"APP_ENV"}},
		{"bad log level", func(c *Config) { c.LogLevel = "trace" }, []string{"LOG_LEVEL"}},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, []string{"LOG_FORMAT"}},
		{"no upstreams", func(c *Config) { c.Upstreams = nil }, []string{"UPSTREAMS"}},
		{"bad upstream", func(c *Config) { c.Upstreams["x"] = []string{"ftp://x"} }, []string{"UPSTREAMS"}},
		{"zero shutdown", func(c *Config) { c.ShutdownTimeout = 0 }, []string{"SHUTDOWN_TIMEOUT_MS"}},
		{"zero proxy timeout", func(c *Config) { c.ProxyTimeout = 0 }, []string{"HTTP_PROXY_TIMEOUT_MS"}},
		{"zero dial", func(c *Config) { c.DialTimeout = 0 }, []string{"UPSTREAM_DIAL_TIMEOUT_MS"}},
		{"zero max conns", func(c *Config) { c.UpstreamMaxConns = 0 }, []string{"UPSTREAM_MAX_CONNS"}},
		{"invalid prefix", func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} }, []string{"TRUSTED_PROXIES"}},
		{"zero threshold", func(c *Config) { c.CBFailureThreshold = 0 }, []string{"CB_FAILURE_THRESHOLD"}},
		{"status out of range", func(c *Config) { c.CBFailureStatuses = []StatusRange{{500, 600}} }, []string{"CB_FAILURE_STATUSES"}},
		{"status upside down", func(c *Config) { c.CBFailureStatuses = []StatusRange{{599, 500}} }, []string{"CB_FAILURE_STATUSES"}},
		{"zero cooldown", func(c *Config) { c.CBCooldown = 0 }, []string{"CB_COOLDOWN_MS"}},
		{"max below cooldown", func(c *Config) { c.CBMaxCooldown = c.CBCooldown - 1 }, []string{"CB_MAX_COOLDOWN_MS"}},
		{"max equals cooldown", func(c *Config) { c.CBMaxCooldown = c.CBCooldown }, nil},
		{"heartbeat off", func(c *Config) { c.SSEHeartbeat = 0 }, nil},
		{"negative heartbeat", func(c *Config) { c.SSEHeartbeat = -1 }, []string{"SSE_HEARTBEAT_MS"}},
		{"zero ping", func(c *Config) { c.WSPingInterval = 0 }, []string{"WS_PING_INTERVAL_MS"}},
		{"zero ws buffer", func(c *Config) { c.WSMaxBufferedBytes = 0 }, []string{"WS_MAX_BUFFERED_BYTES"}},
		{"zero ws message", func(c *Config) { c.WSMaxMessageBytes = 0 }, []string{"WS_MAX_MESSAGE_BYTES"}},
		{"auth without secret", func(c *Config) { c.AuthRequired = true }, []string{"JWT_SECRET", "JWT_JWKS_URL"}},
		{"auth with jwks only", func(c *Config) {
			c.AuthRequired, c.JWTJWKSURLs = true, []string{"https://idp.example/jwks"}
		}, nil},
		{"auth with jwks and short secret", func(c *Config) {
			c.AuthRequired, c.JWTJWKSURLs, c.JWTSecret = true, []string{"https://idp.example/jwks"}, "x"
		}, []string{"JWT_SECRET"}},
		{"bad jwks url", func(c *Config) { c.JWTJWKSURLs = []string{"idp.example/jwks"} }, []string{"JWT_JWKS_URL"}},
		{"bad private header", func(c *Config) { c.CachePrivateHeaders = []string{"X:Y"} }, []string{"CACHE_PRIVATE_HEADERS"}},
		{"no private headers", func(c *Config) { c.CachePrivateHeaders = nil }, nil},
		{"zero pool wait", func(c *Config) { c.UpstreamPoolWait = 0 }, []string{"UPSTREAM_POOL_WAIT_MS"}},
		{"zero body timeout", func(c *Config) { c.ClientBodyTimeout = 0 }, []string{"CLIENT_BODY_TIMEOUT_MS"}},
		{"ipv6 prefix 128", func(c *Config) { c.RateLimitIPv6Prefix = 128 }, nil},
		{"admin addr", func(c *Config) { c.AdminAddr = "127.0.0.1:9901" }, nil},
		{"admin addr all interfaces", func(c *Config) { c.AdminAddr = ":9901" }, nil},
		{"bad admin addr", func(c *Config) { c.AdminAddr = "127.0.0.1" }, []string{"ADMIN_ADDR"}},
		{"bad pprof addr", func(c *Config) { c.PprofAddr = "[::1]:99999" }, []string{"PPROF_ADDR"}},
		{"drain inside shutdown", func(c *Config) { c.StreamDrain = c.ShutdownTimeout - time.Millisecond }, nil},
		{"drain as long as shutdown", func(c *Config) { c.StreamDrain = c.ShutdownTimeout }, []string{"STREAM_DRAIN_MS"}},
		{"negative shutdown delay", func(c *Config) { c.ShutdownDelay = -1 }, []string{"SHUTDOWN_DELAY_MS"}},
		{"negative max age", func(c *Config) { c.StreamMaxAgeAfterRemove = -1 }, []string{"STREAM_MAX_AGE_AFTER_REMOVAL_MS"}},
		{"decision log off", func(c *Config) { c.DecisionLogSize = 0 }, nil},
		{"negative slow start", func(c *Config) { c.SlowStart = -1 }, []string{"SLOW_START_MS"}},
		{"health path", func(c *Config) { c.HealthCheckPath = "/healthz" }, nil},
		{"relative health path", func(c *Config) { c.HealthCheckPath = "healthz" }, []string{"HEALTH_CHECK_PATH"}},
		{"zero health interval", func(c *Config) { c.HealthCheckInterval = 0 }, []string{"HEALTH_CHECK_INTERVAL_MS"}},
		{"zero health timeout", func(c *Config) { c.HealthCheckTimeout = 0 }, []string{"HEALTH_CHECK_TIMEOUT_MS"}},
		{"zero thresholds", func(c *Config) {
			c.HealthCheckUnhealthy, c.HealthCheckHealthy = 0, 0
		}, []string{"HEALTH_CHECK_UNHEALTHY_THRESHOLD", "HEALTH_CHECK_HEALTHY_THRESHOLD"}},
		{"auth short secret", func(c *Config) { c.AuthRequired, c.JWTSecret = true, secret[1:] }, []string{"JWT_SECRET"}},
		{"auth with secret", func(c *Config) { c.AuthRequired, c.JWTSecret = true, secret }, nil},
		{"short secret unused", func(c *Config) { c.JWTSecret = "x" }, nil},
		{"negative leeway", func(c *Config) { c.JWTLeeway = -time.Second }, []string{"JWT_LEEWAY_MS"}},
		{"negative rate max", func(c *Config) { c.RateLimitMax = -1 }, []string{"RATE_LIMIT_MAX"}},
		{"rate limit without window", func(c *Config) { c.RateLimitMax, c.RateLimitWindow = 10, 0 }, []string{"RATE_LIMIT_WINDOW_MS"}},
		{"bad rate key", func(c *Config) { c.RateLimitKey = "cookie" }, []string{"RATE_LIMIT_KEY"}},
		{"header rate key", func(c *Config) { c.RateLimitKey = "header:X-Api-Key" }, nil},
		{"sub without auth", func(c *Config) { c.RateLimitKey = "sub" }, []string{"RATE_LIMIT_KEY"}},
		{"sub with auth", func(c *Config) { c.RateLimitKey, c.AuthRequired, c.JWTSecret = "sub", true, secret }, nil},
		{"bad redis", func(c *Config) { c.RedisURL = "http://localhost:6379" }, []string{"REDIS_URL"}},
		{"good redis", func(c *Config) { c.RedisURL = "rediss://:pw@cache:6380/2" }, nil},
		{"cache without bytes", func(c *Config) { c.CacheEnabled, c.CacheMaxBytes = true, 0 }, []string{"CACHE_MAX_BYTES"}},
		{"cache off, zero bytes", func(c *Config) { c.CacheMaxBytes = 0 }, nil},
		{"negative body cap", func(c *Config) { c.CacheMaxBodyBytes = -1 }, []string{"CACHE_MAX_BODY_BYTES"}},
		{"negative inflight", func(c *Config) { c.MaxInflightRequests = -1 }, []string{"MAX_INFLIGHT_REQUESTS"}},
		{"negative goroutines", func(c *Config) { c.MaxGoroutines = -1 }, []string{"MAX_GOROUTINES"}},
		{"negative sched", func(c *Config) { c.MaxSchedLatency = -1 }, []string{"MAX_SCHED_LATENCY_MS"}},
		{"zero sample", func(c *Config) { c.PressureSample = 0 }, []string{"PRESSURE_SAMPLE_MS"}},
		{"zero read timeout", func(c *Config) { c.ServerReadTimeout = 0 }, []string{"SERVER_READ_TIMEOUT_MS"}},
		{"zero idle timeout", func(c *Config) { c.ServerIdleTimeout = 0 }, []string{"SERVER_IDLE_TIMEOUT_MS"}},
		{"small headers", func(c *Config) { c.MaxHeaderBytes = 1023 }, []string{"MAX_HEADER_BYTES"}},
		{"min headers", func(c *Config) { c.MaxHeaderBytes = 1024 }, nil},
		{"negative body", func(c *Config) { c.MaxBodyBytes = -1 }, []string{"MAX_BODY_BYTES"}},
		{"negative conns", func(c *Config) { c.MaxConns = -1 }, []string{"MAX_CONNS"}},
		{"negative conns per ip", func(c *Config) { c.MaxConnsPerIP = -1 }, []string{"MAX_CONNS_PER_IP"}},
		{"many, in field order", func(c *Config) {
			c.MaxHeaderBytes, c.Port, c.AuthRequired, c.LogFormat = 0, 0, true, ""
		}, []string{"PORT", "LOG_FORMAT", "JWT_SECRET", "JWT_JWKS_URL", "MAX_HEADER_BYTES"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(c)
			if got := problemVars(t, c.Validate()); !slices.Equal(got, tc.want) {
				t.Errorf("Validate() names %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Problems: []Problem{{"PORT", "bad"}, {"HOST", "empty"}}}
	if got, want := e.Error(), "PORT: bad\nHOST: empty"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSecretNeverShown(t *testing.T) {
	const secret = "hunter2-hunter2" // too short
	c := validConfig()
	c.AuthRequired, c.JWTSecret = true, secret
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("Validate() = %v; want an error that does not show the secret", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
