package config

import (
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const testUpstreams = `{"users":["http://127.0.0.1:9001"]}`

// clearEnv empties every variable Load reads, restored after the test, so the
// machine's own environment cannot leak in. Empty counts as unset.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, name := range envNames() {
		t.Setenv(name, "")
	}
}

// setEnv clears the environment, then sets vars.
func setEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	clearEnv(t)
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// writeFile writes content to a .env file in a fresh directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadEachBadVariable(t *testing.T) {
	tests := []struct {
		name, value string
		extra       map[string]string
		want        string // a substring of the problem
	}{
		{"PORT", "abc", nil, `"abc" is not an integer`},
		{"PORT", "0", nil, "must be >= 1"},
		{"PORT", "65536", nil, "must be <= 65535"},
		{"PORT", "99999999999999999999", nil, "out of range"},
		{"HOST", "   ", nil, "must not be empty"},
		{"APP_ENV", "staging", nil, `"staging" is not one of production|development`},
		{"NODE_ENV", "test", nil, `"test" is not one of`},
		{"LOG_LEVEL", "verbose", nil, "is not one of debug|info|warn|error"},
		{"LOG_FORMAT", "xml", nil, "is not one of json|text"},
		{"UPSTREAMS", `{"billing":["ftp://x"]}`, nil, `service "billing": "ftp://x" is not an http(s) URL`},
		{"UPSTREAMS", `not json`, nil, "must be a JSON object"},
		{"TRUSTED_PROXIES", "10.0.0.0/8,nope", nil, `"nope" is not an IP address or CIDR`},
		{"CB_FAILURE_THRESHOLD", "0", nil, "must be >= 1"},
		{"CB_FAILURE_STATUSES", "500-700", nil, "outside 100-599"},
		{"CB_FAILURE_STATUSES", "5xx", nil, "not a status code"},
		{"CB_MAX_COOLDOWN_MS", "9999", nil, "must be >= CB_COOLDOWN_MS"},
		{"SSE_HEARTBEAT_MS", "-1", nil, "must be >= 0 milliseconds"},
		{"JWT_LEEWAY_MS", "30s", nil, "not a whole number of milliseconds"},
		{"AUTH_REQUIRED", "maybe", nil, "not a boolean"},
		{"AUTH_REQUIRED", "yes", nil, ""}, // then JWT_SECRET is missing
		{"JWT_SECRET", "too-short", map[string]string{"AUTH_REQUIRED": "1"}, "at least 32 characters"},
		{"RATE_LIMIT_KEY", "cookie", nil, "not ip, sub or header:<Name>"},
		{"RATE_LIMIT_KEY", "header:a b", nil, "not a valid header name"},
		{"RATE_LIMIT_KEY", "sub", nil, "needs AUTH_REQUIRED=true"},
		{"RATE_LIMIT_WINDOW_MS", "0", map[string]string{"RATE_LIMIT_MAX": "100"}, "must be > 0"},
		{"REDIS_URL", "localhost:6379", nil, "not redis or rediss"},
		{"CACHE_MAX_BYTES", "0", map[string]string{"CACHE_ENABLED": "true"}, "must be > 0 when CACHE_ENABLED"},
		{"MAX_HEAP_BYTES", "-1", nil, "not an integer >= 0"},
		{"MAX_HEADER_BYTES", "1023", nil, "must be >= 1024"},
		{"WS_MAX_BUFFERED_BYTES", "0", nil, "must be > 0"},
		{"WS_MAX_MESSAGE_BYTES", "0", nil, "must be > 0"},
		{"CACHE_PRIVATE_HEADERS", "Authorization, X Key", nil, `"X Key" is not a valid header name`},
		{"RATE_LIMIT_IPV6_PREFIX", "0", nil, "must be >= 1"},
		{"RATE_LIMIT_IPV6_PREFIX", "129", nil, "must be <= 128"},
		{"JWT_JWKS_URL", "https://idp.example/jwks.json, ftp://x", nil, `"ftp://x" is not an absolute http(s) URL`},
		{"JWT_JWKS_URL", "/jwks.json", nil, "is not an absolute http(s) URL"},
		{"ADMIN_ADDR", "9901", nil, `"9901" is not host:port`},
		{"ADMIN_ADDR", "127.0.0.1:http", nil, "has no port in 1-65535"},
		{"PPROF_ADDR", "localhost:0", nil, "has no port in 1-65535"},
		{"STREAM_DRAIN_MS", "10000", nil, "must be < SHUTDOWN_TIMEOUT_MS"},
		{"SHUTDOWN_DELAY_MS", "-5", nil, "must be >= 0 milliseconds"},
		{"DECISION_LOG_SIZE", "-1", nil, "must be >= 0"},
		{"HEALTH_CHECK_PATH", "healthz", nil, "must start with a single /"},
		{"HEALTH_CHECK_PATH", "//evil/x", nil, "must start with a single /"},
		{"HEALTH_CHECK_PATH", "/health check", nil, "must not hold whitespace"},
		{"HEALTH_CHECK_UNHEALTHY_THRESHOLD", "0", nil, "must be >= 1"},
		{"HEALTH_CHECK_HEALTHY_THRESHOLD", "0", nil, "must be >= 1"},
	}
	for _, name := range positiveDurations() {
		tests = append(tests, struct {
			name, value string
			extra       map[string]string
			want        string
		}{name, "0", nil, "must be > 0"})
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			setEnv(t, tc.extra)
			t.Setenv("UPSTREAMS", testUpstreams)
			t.Setenv(tc.name, tc.value)
			c, err := Load("")
			if tc.name == "AUTH_REQUIRED" && tc.want == "" {
				assertProblems(t, c, err, "JWT_SECRET", "JWT_JWKS_URL")
				return
			}
			assertOneProblem(t, c, err, tc.name, tc.want)
		})
	}
}

// positiveDurations lists the *_MS variables that must be > 0.
func positiveDurations() []string {
	return []string{
		"HTTP_PROXY_TIMEOUT_MS", "UPSTREAM_DIAL_TIMEOUT_MS", "SHUTDOWN_TIMEOUT_MS", "CB_COOLDOWN_MS",
		"PRESSURE_SAMPLE_MS", "WS_PING_INTERVAL_MS", "SERVER_READ_TIMEOUT_MS", "SERVER_IDLE_TIMEOUT_MS",
		"UPSTREAM_POOL_WAIT_MS", "CLIENT_BODY_TIMEOUT_MS", "JWT_JWKS_REFRESH_MS", "HEALTH_CHECK_INTERVAL_MS",
		"HEALTH_CHECK_TIMEOUT_MS",
	}
}

// assertProblems checks that err names exactly vars, in that order.
func assertProblems(t *testing.T, c *Config, err error, vars ...string) {
	t.Helper()
	if c != nil {
		t.Errorf("Load returned a config with error %v", err)
	}
	if got := problemVars(t, err); !slices.Equal(got, vars) {
		t.Fatalf("error names %v, want %v; error:\n%v", got, vars, err)
	}
}

func assertOneProblem(t *testing.T, c *Config, err error, name, msg string) {
	t.Helper()
	if c != nil {
		t.Errorf("Load returned a config with error %v", err)
	}
	if got := problemVars(t, err); !slices.Equal(got, []string{name}) {
		t.Fatalf("error names %v, want [%s]; error:\n%v", got, name, err)
	}
	for line := range strings.Lines(err.Error()) {
		if strings.HasPrefix(line, name+": ") && strings.Contains(line, msg) {
			return
		}
	}
	t.Errorf("error %q has no line %q...%q", err, name+": ", msg)
}

// TestLoadEveryNumberParses sets each numeric or boolean variable to a word
// and expects exactly that variable reported: nothing is silently defaulted.
func TestLoadEveryNumberParses(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Bool:
		default:
			continue
		}
		name, _ := envTag(f)
		t.Run(name, func(t *testing.T) {
			setEnv(t, map[string]string{"UPSTREAMS": testUpstreams, name: "abc"})
			c, err := Load("")
			assertOneProblem(t, c, err, name, `"abc" is not`)
		})
	}
}

func TestLoadNamesEveryBadVariable(t *testing.T) {
	setEnv(t, map[string]string{
		"PORT":                "abc",
		"LOG_LEVEL":           "loud",
		"UPSTREAMS":           `{"billing":["ftp://x"],"users":["http://h?q=1"]}`,
		"CB_FAILURE_STATUSES": "42",
		"JWT_SECRET":          "short-secret-value",
		"APP_ENV":             "production",
		"MAX_HEADER_BYTES":    "12",
	})
	_, err := Load("")
	want := []string{"PORT", "LOG_LEVEL", "UPSTREAMS", "CB_FAILURE_STATUSES", "JWT_SECRET", "MAX_HEADER_BYTES"}
	if got := problemVars(t, err); !slices.Equal(got, want) {
		t.Fatalf("error names %v, want %v; error:\n%v", got, want, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 7 { // UPSTREAMS has two problems
		t.Errorf("got %d lines, want 7:\n%v", len(lines), err)
	}
	if strings.Contains(err.Error(), "short-secret-value") {
		t.Error("error shows JWT_SECRET")
	}
}

func TestLoadNamesAliasInOrder(t *testing.T) {
	setEnv(t, map[string]string{"UPSTREAMS": testUpstreams, "SHUTDOWN_TIMEOUT_MS": "0", "NODE_ENV": "test", "HOST": " "})
	_, err := Load("")
	want := []string{"HOST", "NODE_ENV", "SHUTDOWN_TIMEOUT_MS"}
	if got := problemVars(t, err); !slices.Equal(got, want) {
		t.Fatalf("error names %v, want %v; error:\n%v", got, want, err)
	}
}

func TestLoadEnvBeatsFile(t *testing.T) {
	file := writeFile(t, "PORT=7000\nHOST=file.example\nUPSTREAMS='"+testUpstreams+"'\nLOG_LEVEL=debug\n")
	tests := []struct {
		name     string
		env      map[string]string
		wantPort int
		wantHost string
	}{
		{"file only", nil, 7000, "file.example"},
		{"env wins", map[string]string{"PORT": "9000"}, 9000, "file.example"},
		{"empty env falls through", map[string]string{"PORT": ""}, 7000, "file.example"},
		{"both from env", map[string]string{"PORT": "1", "HOST": "::1"}, 1, "::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			c, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if c.Port != tc.wantPort || c.Host != tc.wantHost || c.LogLevel != "debug" {
				t.Errorf("got %s log %s, want port %d host %s log debug", c.Addr(), c.LogLevel, tc.wantPort, tc.wantHost)
			}
		})
	}
}

func TestLoadAppEnvAndAuthDefault(t *testing.T) {
	secret := strings.Repeat("k", 32)
	tests := []struct {
		name     string
		env      map[string]string
		wantEnv  string
		wantAuth bool
	}{
		{"default", nil, "development", false},
		{"production", map[string]string{"APP_ENV": "production", "JWT_SECRET": secret}, "production", true},
		{"upper case", map[string]string{"APP_ENV": "Production", "JWT_SECRET": secret}, "production", true},
		{"NODE_ENV alias", map[string]string{"NODE_ENV": "production", "JWT_SECRET": secret}, "production", true},
		{"APP_ENV wins", map[string]string{"APP_ENV": "development", "NODE_ENV": "production"}, "development", false},
		{"APP_ENV wins, invalid alias ignored", map[string]string{"APP_ENV": "development", "NODE_ENV": "test"}, "development", false},
		{"auth off in production", map[string]string{"APP_ENV": "production", "AUTH_REQUIRED": "false"}, "production", false},
		{"auth on in development", map[string]string{"AUTH_REQUIRED": "true", "JWT_SECRET": secret}, "development", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			t.Setenv("UPSTREAMS", testUpstreams)
			c, err := Load("")
			if err != nil {
				t.Fatal(err)
			}
			if c.AppEnv != tc.wantEnv || c.AuthRequired != tc.wantAuth || c.Production() != (tc.wantEnv == "production") {
				t.Errorf("AppEnv %q AuthRequired %v, want %q %v", c.AppEnv, c.AuthRequired, tc.wantEnv, tc.wantAuth)
			}
		})
	}
}

func TestLoadProductionNeedsSecret(t *testing.T) {
	setEnv(t, map[string]string{"UPSTREAMS": testUpstreams, "NODE_ENV": "production"})
	c, err := Load("")
	assertProblems(t, c, err, "JWT_SECRET", "JWT_JWKS_URL")
	if !strings.Contains(err.Error(), "JWT_SECRET: is required when AUTH_REQUIRED is true") {
		t.Errorf("error %q does not say JWT_SECRET is required", err)
	}
}

func TestLoadQuotedJSON(t *testing.T) {
	want := map[string][]string{"users": {"http://127.0.0.1:9001", "http://127.0.0.1:9002"}, "billing": {"https://b.example/api"}}
	tests := []struct {
		name, line string
	}{
		{"single quoted", `UPSTREAMS='{"users": ["http://127.0.0.1:9001", "http://127.0.0.1:9002/"], "billing": ["https://b.example/api/"]}'`},
		{"single quoted, export, comment", `export UPSTREAMS = '{"users":["http://127.0.0.1:9001","http://127.0.0.1:9002"],"billing":["https://b.example/api"]}' # two services`},
		{"double quoted", `UPSTREAMS="{\"users\":[\"http://127.0.0.1:9001\",\"http://127.0.0.1:9002\"],\"billing\":[\"https://b.example/api\"]}"`},
		{"unquoted", `UPSTREAMS={"users":["http://127.0.0.1:9001","http://127.0.0.1:9002"],"billing":["https://b.example/api"]}`},
		{"multi-line single quoted", "UPSTREAMS='{\n  \"users\": [\"http://127.0.0.1:9001\", \"http://127.0.0.1:9002\"],\n  \"billing\": [\"https://b.example/api\"]\n}'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			c, err := Load(writeFile(t, "# gateway\n"+tc.line+"\nPORT=8081\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(c.Upstreams, want, slices.Equal) || c.Port != 8081 {
				t.Errorf("Upstreams %v port %d, want %v 8081", c.Upstreams, c.Port, want)
			}
		})
	}
}

func TestLoadFiles(t *testing.T) {
	const secret = "SuperSecretValue0123456789abcdef0123"
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		wantErr string // substring; "" = success
	}{
		{"missing file is fine", filepath.Join(dir, "absent.env"), ""},
		{"no file", "", ""},
		{"unreadable (a directory)", dir, "reading"},
		{"malformed line", writeFile(t, "PORT=1\n\nJWT_SECRET "+secret+"\n"), "line 3"},
		{"unclosed quote", writeFile(t, "UPSTREAMS='{\"a\":[]}\nPORT=1\n"), "parsing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, map[string]string{"UPSTREAMS": testUpstreams})
			_, err := Load(tc.path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Load error = %v, want one containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Fatalf("Load error shows the secret: %v", err)
			}
		})
	}
}

// TestLoadAllValues sets every variable to a non-default value and checks
// each lands in its field, converted.
func TestLoadAllValues(t *testing.T) {
	secret := strings.Repeat("z", 40)
	setEnv(t, map[string]string{
		"PORT": "9090", "HOST": " 127.0.0.1 ", "APP_ENV": "production", "SHUTDOWN_TIMEOUT_MS": "2500",
		"LOG_LEVEL": "WARN", "LOG_FORMAT": "text", "UPSTREAMS": testUpstreams,
		"HTTP_PROXY_TIMEOUT_MS": "1000", "UPSTREAM_DIAL_TIMEOUT_MS": "200", "UPSTREAM_MAX_CONNS": "64",
		"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1", "CB_FAILURE_THRESHOLD": "3", "CB_FAILURE_STATUSES": "502-504,429",
		"CB_COOLDOWN_MS": "500", "CB_MAX_COOLDOWN_MS": "500", "SSE_HEARTBEAT_MS": "0", "WS_PING_INTERVAL_MS": "100",
		"WS_MAX_BUFFERED_BYTES": "4096", "WS_MAX_MESSAGE_BYTES": "8192", "AUTH_REQUIRED": "yes", "JWT_SECRET": secret,
		"JWT_LEEWAY_MS": "0", "JWT_FORWARD_SUBJECT": "1", "RATE_LIMIT_MAX": "100", "RATE_LIMIT_WINDOW_MS": "1000",
		"RATE_LIMIT_KEY": "sub", "REDIS_URL": "redis://localhost:6379/1", "RATE_LIMIT_REDIS_FAIL_OPEN": "no",
		"CACHE_ENABLED": "TRUE", "CACHE_DEFAULT_TTL_MS": "5000", "CACHE_MAX_BODY_BYTES": "1000", "CACHE_MAX_BYTES": "2000",
		"CACHE_PRIVATE_BY_SUBJECT": "true", "MAX_INFLIGHT_REQUESTS": "10", "MAX_HEAP_BYTES": "1073741824",
		"MAX_GOROUTINES": "5000", "MAX_SCHED_LATENCY_MS": "50", "PRESSURE_SAMPLE_MS": "250",
		"SERVER_READ_TIMEOUT_MS": "3000", "SERVER_IDLE_TIMEOUT_MS": "4000", "MAX_HEADER_BYTES": "8192",
		"MAX_BODY_BYTES": "1048576", "MAX_CONNS": "100", "MAX_CONNS_PER_IP": "10", "CONFIG_WATCH": "true",
		"UPSTREAM_POOL_WAIT_MS": "250", "CLIENT_BODY_TIMEOUT_MS": "7000", "RATE_LIMIT_IPV6_PREFIX": "56",
		"CACHE_PRIVATE_HEADERS": "X-Tenant, Cookie", "JWT_JWKS_URL": "https://a.example/jwks, http://b.example/k",
		"JWT_JWKS_REFRESH_MS": "60000", "JWT_ISSUER": "https://idp.example/", "JWT_AUDIENCE": "api, gw",
		"JWT_REQUIRE_EXP": "false", "ADMIN_ADDR": "127.0.0.1:9901", "PPROF_ADDR": "[::1]:6060",
		"SHUTDOWN_DELAY_MS": "5000", "STREAM_DRAIN_MS": "2000", "STREAM_MAX_AGE_AFTER_REMOVAL_MS": "60000",
		"DECISION_LOG_SIZE": "0", "SLOW_START_MS": "30000", "HEALTH_CHECK_PATH": "/healthz?deep=1",
		"HEALTH_CHECK_INTERVAL_MS": "2000", "HEALTH_CHECK_TIMEOUT_MS": "500",
		"HEALTH_CHECK_UNHEALTHY_THRESHOLD": "3", "HEALTH_CHECK_HEALTHY_THRESHOLD": "4",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/t",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_HEADERS": "k=v", "OTEL_SERVICE_NAME": "edge",
		"OTEL_RESOURCE_ATTRIBUTES": "a=b", "OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "0.5",
		"OTEL_SDK_DISABLED": "true",
	})
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	want := &Config{
		Port: 9090, Host: "127.0.0.1", AppEnv: "production", ShutdownTimeout: 2500 * ms, LogLevel: "warn", LogFormat: "text",
		Upstreams:    map[string][]string{"users": {"http://127.0.0.1:9001"}},
		ProxyTimeout: time.Second, DialTimeout: 200 * ms, UpstreamMaxConns: 64,
		TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")},
		CBFailureThreshold: 3, CBFailureStatuses: []StatusRange{{502, 504}, {429, 429}},
		CBCooldown: 500 * ms, CBMaxCooldown: 500 * ms, WSPingInterval: 100 * ms,
		WSMaxBufferedBytes: 4096, WSMaxMessageBytes: 8192, AuthRequired: true, JWTSecret: secret,
		JWTForwardSubject: true, RateLimitMax: 100, RateLimitWindow: time.Second, RateLimitKey: "sub",
		RedisURL: "redis://localhost:6379/1", CacheEnabled: true, CacheDefaultTTL: 5 * time.Second,
		CacheMaxBodyBytes: 1000, CacheMaxBytes: 2000, CachePrivateBySubject: true, MaxInflightRequests: 10,
		MaxHeapBytes: 1 << 30, MaxGoroutines: 5000, MaxSchedLatency: 50 * ms, PressureSample: 250 * ms,
		ServerReadTimeout: 3 * time.Second, ServerIdleTimeout: 4 * time.Second, MaxHeaderBytes: 8192,
		MaxBodyBytes: 1 << 20, MaxConns: 100, MaxConnsPerIP: 10, ConfigWatch: true,
		UpstreamPoolWait: 250 * ms, ClientBodyTimeout: 7 * time.Second, RateLimitIPv6Prefix: 56,
		CachePrivateHeaders: []string{"X-Tenant", "Cookie"},
		JWTJWKSURLs:         []string{"https://a.example/jwks", "http://b.example/k"},
		JWTJWKSRefresh:      time.Minute, JWTIssuer: "https://idp.example/", JWTAudience: []string{"api", "gw"},
		JWTRequireExp: false, AdminAddr: "127.0.0.1:9901", PprofAddr: "[::1]:6060",
		ShutdownDelay: 5 * time.Second, StreamDrain: 2 * time.Second, StreamMaxAgeAfterRemove: time.Minute,
		DecisionLogSize: 0, SlowStart: 30 * time.Second, HealthCheckPath: "/healthz?deep=1",
		HealthCheckInterval: 2 * time.Second, HealthCheckTimeout: 500 * ms,
		HealthCheckUnhealthy: 3, HealthCheckHealthy: 4,
		OTelEndpoint: "http://collector:4317", OTelTracesEndpoint: "https://c.example/t", OTelProtocol: "grpc",
		OTelHeaders: "k=v", OTelServiceName: "edge", OTelResourceAttributes: "a=b", OTelSampler: "always_off",
		OTelSamplerArg: 0.5, OTelSDKDisabled: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

// TestEnvExample loads the repository's .env.example: it must list every
// variable, and the values it shows must be the defaults.
func TestEnvExample(t *testing.T) {
	const path = "../.env.example"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range envNames() {
		if !strings.Contains("\n"+string(data), "\n"+name+"=") && !strings.Contains("\n"+string(data), "\n# "+name+"=") {
			t.Errorf(".env.example does not list %s", name)
		}
	}
	clearEnv(t)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Upstreams = map[string][]string{"users": {"http://127.0.0.1:9001", "http://127.0.0.1:9002"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf(".env.example loads as\n%+v\nwant the defaults\n%+v", c, want)
	}
}

func TestLoadErrorIsConfigError(t *testing.T) {
	clearEnv(t)
	_, err := Load("")
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Var != "UPSTREAMS" {
		t.Fatalf("Load with nothing set = %v, want one UPSTREAMS problem", err)
	}
}
