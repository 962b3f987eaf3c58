package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
)

// minSecretLen is the shortest JWT_SECRET accepted: 32 bytes is the HS256
// key size RFC 7518 section 3.2 asks for.
const minSecretLen = 32

// Validate checks c against every rule Load applies and returns an *Error
// naming each bad variable, or nil. Load already calls it; it is for a
// Config built or changed in code, such as in tests.
func (c *Config) Validate() error {
	var p problems
	validate(c, &p)
	return p.err()
}

// validate adds a problem for each rule c breaks: first the struct-tag rules,
// then the ones that span fields or need parsing.
func validate(c *Config, p *problems) {
	checkTags(c, p)
	for _, msg := range checkUpstreams(c.Upstreams) {
		p.add("UPSTREAMS", msg)
	}
	for _, pr := range c.TrustedProxies {
		if !pr.IsValid() {
			p.add("TRUSTED_PROXIES", fmt.Sprintf("%s is not a valid prefix", pr))
		}
	}
	for _, r := range c.CBFailureStatuses {
		if err := checkStatusRange(r); err != nil {
			p.add("CB_FAILURE_STATUSES", fmt.Sprintf("%d-%d %v", r.Lo, r.Hi, err))
		}
	}
	if err := checkRateLimitKey(c.RateLimitKey); err != nil {
		p.add("RATE_LIMIT_KEY", err.Error())
	} else if c.RateLimitKey == "sub" && !c.AuthRequired {
		p.add("RATE_LIMIT_KEY", `"sub" needs AUTH_REQUIRED=true: the subject comes from a verified JWT`)
	}
	if c.RateLimitMax > 0 && c.RateLimitWindow <= 0 {
		p.add("RATE_LIMIT_WINDOW_MS", "must be > 0 when RATE_LIMIT_MAX is set")
	}
	if c.RedisURL != "" {
		if err := checkRedisURL(c.RedisURL); err != nil {
			p.add("REDIS_URL", err.Error())
		}
	}
	validateAuth(c, p)
	if c.CacheEnabled && c.CacheMaxBytes <= 0 {
		p.add("CACHE_MAX_BYTES", "must be > 0 when CACHE_ENABLED is true")
	}
	for _, msg := range checkHeaderNames(c.CachePrivateHeaders) {
		p.add("CACHE_PRIVATE_HEADERS", msg)
	}
	validateListeners(c, p)
	validateTracing(c, p)
	if c.StreamDrain > 0 && c.StreamDrain >= c.ShutdownTimeout {
		p.add("STREAM_DRAIN_MS", "must be < SHUTDOWN_TIMEOUT_MS: the drain window fits inside the shutdown budget")
	}
	if c.HealthCheckPath != "" {
		if err := checkProbePath(c.HealthCheckPath); err != nil {
			p.add("HEALTH_CHECK_PATH", err.Error())
		}
	}
}

// validateAuth checks the JWT settings: with AUTH_REQUIRED, at least one key
// source (JWT_SECRET or JWT_JWKS_URL); a secret, when given, long enough.
func validateAuth(c *Config, p *problems) {
	for _, msg := range checkHTTPURLs(c.JWTJWKSURLs) {
		p.add("JWT_JWKS_URL", msg)
	}
	if !c.AuthRequired {
		return
	}
	switch {
	case c.JWTSecret == "" && len(c.JWTJWKSURLs) == 0:
		p.add("JWT_SECRET", "is required when AUTH_REQUIRED is true, unless JWT_JWKS_URL is set")
		p.add("JWT_JWKS_URL", "is required when AUTH_REQUIRED is true, unless JWT_SECRET is set")
	case c.JWTSecret != "" && len(c.JWTSecret) < minSecretLen:
		p.add("JWT_SECRET", fmt.Sprintf("must be at least %d characters when AUTH_REQUIRED is true", minSecretLen))
	}
}

// validateListeners checks the optional extra listen addresses.
func validateListeners(c *Config, p *problems) {
	for name, addr := range map[string]string{"ADMIN_ADDR": c.AdminAddr, "PPROF_ADDR": c.PprofAddr} {
		if addr == "" {
			continue
		}
		if err := checkListenAddr(addr); err != nil {
			p.add(name, err.Error())
		}
	}
}

// checkTags runs the validate struct tags, naming fields by their env tag.
// A validator is built per call: it is cheap next to a config load, and a
// shared one would be package-level state.
func checkTags(c *Config, p *problems) {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _ := envTag(f)
		return name
	})
	err := v.Struct(c)
	var fes validator.ValidationErrors
	if !errors.As(err, &fes) {
		if err != nil {
			p.add("internal", err.Error())
		}
		return
	}
	for _, fe := range fes {
		p.add(fe.Field(), tagMessage(fe))
	}
}

// tagMessage explains one failed struct-tag rule, with the offending value.
func tagMessage(fe validator.FieldError) string {
	got := gotValue(fe.Value())
	switch fe.Tag() {
	case "required":
		return "must not be empty"
	case "oneof":
		return fmt.Sprintf("%s is not one of %s", got, strings.ReplaceAll(fe.Param(), " ", "|"))
	case "min", "gte":
		return fmt.Sprintf("must be >= %s, got %s", fe.Param(), got)
	case "max", "lte":
		return fmt.Sprintf("must be <= %s, got %s", fe.Param(), got)
	case "gt":
		return fmt.Sprintf("must be > %s, got %s", fe.Param(), got)
	case "gtefield":
		f, _ := reflect.TypeFor[Config]().FieldByName(fe.Param())
		other, _ := envTag(f)
		return fmt.Sprintf("must be >= %s, got %s", other, got)
	}
	return fmt.Sprintf("fails rule %q, got %s", fe.Tag(), got)
}

// gotValue renders a field value as it was written in the environment:
// durations in milliseconds, strings quoted. No tagged field is a secret.
func gotValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return fmt.Sprint(x.Milliseconds())
	case string:
		return shown(x)
	}
	return fmt.Sprint(v)
}
