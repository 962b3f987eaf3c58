package middleware

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"gateway/config"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

// jwtConfig is a config with auth on and a 30 s leeway.
func jwtConfig(forward bool) *config.Config {
	cfg := config.Default()
	cfg.AuthRequired = true
	cfg.JWTSecret = testSecret
	cfg.JWTLeeway = 30 * time.Second
	cfg.JWTForwardSubject = forward
	return cfg
}

// seen is what the route behind the middleware observed.
type seen struct {
	Subject   string `json:"subject"`
	Forwarded string `json:"forwarded"`
	RawURI    string `json:"rawURI"`
	Query     string `json:"query"`
	ReqURI    string `json:"reqURI"`
	Token     string `json:"token"`
}

// jwtApp mounts NewJWT(cfg, opts...) on the proxy prefixes, as the app does, in front
// of a route that reports what it saw.
func jwtApp(cfg *config.Config, opts ...JWTOption) *fiber.App {
	app := fiber.New()
	app.Use(RequestID(NewRequestIDs()))
	echo := func(c *fiber.Ctx) error {
		return c.JSON(seen{
			Subject:   Subject(c),
			Forwarded: string(c.Request().Header.Peek(HeaderAuthSubject)),
			RawURI:    string(c.Request().Header.RequestURI()),
			Query:     string(c.Request().URI().QueryString()),
			ReqURI:    string(c.Request().RequestURI()),
			Token:     c.Query(AccessTokenParam),
		})
	}
	h := NewJWT(cfg, opts...)
	for _, p := range []string{"/api", "/sse", "/ws", "/admin"} {
		app.Use(p, h)
		app.All(p, echo)
		app.All(p+"/*", echo)
	}
	app.Get("/healthz", echo)
	return app
}

// sign makes a token with method m, key k and claims.
func sign(t testing.TB, m jwt.SigningMethod, k any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forgeHMAC builds header.claims signed with HMAC-SHA256 of key whatever the
// header says: the key-confusion shape (e.g. alg RS256, HMAC signature).
func forgeHMAC(header, claims string, key []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

type jwtCase struct {
	name       string
	target     string
	token      string // Authorization: Bearer <token> when set
	authHeader string // raw Authorization header when set
	status     int
	challenge  string // WWW-Authenticate on 401
	subject    string
}

func jwtCases(t *testing.T) []jwtCase {
	now := time.Now()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	hs := func(extra jwt.MapClaims) string {
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims(extra))
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := hs(nil)
	const missing, invalid = "Bearer", `Bearer error="invalid_token"`
	exp := now.Add(time.Hour).Unix()
	return []jwtCase{
		{name: "valid", target: "/api/svc/x", token: valid, status: 200, subject: "alice"},
		{name: "valid on sse", target: "/sse/svc/x", token: valid, status: 200, subject: "alice"},
		{name: "scheme case-insensitive", target: "/api/svc", authHeader: "bearer " + valid, status: 200, subject: "alice"},
		{name: "no exp is refused (JWT_REQUIRE_EXP)", target: "/api/svc", token: hs(jwt.MapClaims{"exp": nil}), status: 401, challenge: invalid},
		{name: "no sub is accepted without subject", target: "/api/svc", token: hs(jwt.MapClaims{"sub": nil}), status: 200},
		{name: "expired", target: "/api/svc", token: hs(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}), status: 401, challenge: invalid},
		{name: "expired within leeway", target: "/api/svc", token: hs(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}), status: 200, subject: "alice"},
		{name: "not yet valid", target: "/api/svc", token: hs(jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()}), status: 401, challenge: invalid},
		{name: "not yet valid within leeway", target: "/api/svc", token: hs(jwt.MapClaims{"nbf": now.Add(10 * time.Second).Unix()}), status: 200, subject: "alice"},
		{name: "wrong secret", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claims(nil)), status: 401, challenge: invalid},
		{name: "wrong secret and expired within leeway", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claims(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()})), status: 401, challenge: invalid},
		{name: "alg none", target: "/api/svc", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), status: 401, challenge: invalid},
		{name: "RS256 signed", target: "/api/svc", token: sign(t, jwt.SigningMethodRS256, rsaKey, claims(nil)), status: 401, challenge: invalid},
		{name: "RS256 header with HMAC signature (key confusion)", target: "/api/svc", token: forgeHMAC(`{"alg":"RS256","typ":"JWT"}`, `{"sub":"mallory","exp":`+jsonInt(exp)+`}`, []byte(testSecret)), status: 401, challenge: invalid},
		{name: "lower-case alg", target: "/api/svc", token: forgeHMAC(`{"alg":"hs256"}`, `{"sub":"mallory"}`, []byte(testSecret)), status: 401, challenge: invalid},
		{name: "HS512", target: "/api/svc", token: sign(t, jwt.SigningMethodHS512, []byte(testSecret), claims(nil)), status: 401, challenge: invalid},
		{name: "HS384", target: "/api/svc", token: sign(t, jwt.SigningMethodHS384, []byte(testSecret), claims(nil)), status: 401, challenge: invalid},
		{name: "malformed", target: "/api/svc", token: "not-a-jwt", status: 401, challenge: invalid},
		{name: "malformed three parts", target: "/api/svc", token: "a.b.c", status: 401, challenge: invalid},
		{name: "subject with newline", target: "/api/svc", token: hs(jwt.MapClaims{"sub": "eve\r\nX-Admin: 1"}), status: 401, challenge: invalid},
		{name: "null subject", target: "/api/svc", token: forgeHMAC(`{"alg":"HS256"}`, `{"sub":null}`, []byte(testSecret)), status: 401, challenge: invalid},
		{name: "subject not a string", target: "/api/svc", token: hs(jwt.MapClaims{"sub": 42}), status: 401, challenge: invalid},
		{name: "missing", target: "/api/svc", status: 401, challenge: missing},
		{name: "basic auth is missing bearer", target: "/api/svc", authHeader: "Basic YTpi", status: 401, challenge: missing},
		{name: "query token on /ws", target: "/ws/svc?access_token=" + valid + "&path=/p", status: 200, subject: "alice"},
		{name: "query token on /admin", target: "/admin?access_token=" + valid, status: 200, subject: "alice"},
		{name: "query token on /admin/stats", target: "/admin/stats?access_token=" + valid, status: 200, subject: "alice"},
		{name: "encoded query key on /ws", target: "/ws/svc?access%5Ftoken=" + valid, status: 200, subject: "alice"},
		{name: "bad query token on /ws", target: "/ws/svc?access_token=junk", status: 401, challenge: invalid},
		{name: "query token on /api rejected", target: "/api/svc?access_token=" + valid, status: 401, challenge: missing},
		{name: "query token on /sse rejected", target: "/sse/svc?access_token=" + valid, status: 401, challenge: missing},
		{name: "header wins over query on /ws", target: "/ws/svc?access_token=junk", token: valid, status: 200, subject: "alice"},
	}
}

// inAnHour is an exp claim an hour from now.
func inAnHour() int64 { return time.Now().Add(time.Hour).Unix() }

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func doJWT(t *testing.T, app *fiber.App, tc jwtCase, extra ...string) (*http.Response, seen, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, tc.target, nil)
	switch {
	case tc.authHeader != "":
		req.Header.Set("Authorization", tc.authHeader)
	case tc.token != "":
		req.Header.Set("Authorization", "Bearer "+tc.token)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var s seen
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
	}
	return resp, s, string(body)
}

func TestJWT(t *testing.T) {
	app := jwtApp(jwtConfig(true))
	for _, tc := range jwtCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			resp, s, body := doJWT(t, app, tc)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 401 {
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
				}
				id := resp.Header.Get("X-Request-Id")
				if id == "" || !strings.Contains(body, `"requestId":"`+id+`"`) || !strings.Contains(body, `"error":`) {
					t.Errorf("401 body %s lacks the error shape or request id %q", body, id)
				}
				return
			}
			if s.Subject != tc.subject || s.Forwarded != tc.subject {
				t.Errorf("Subject %q, X-Auth-Subject %q; want %q", s.Subject, s.Forwarded, tc.subject)
			}
			if queryTokenAllowed(strings.SplitN(tc.target, "?", 2)[0]) {
				for _, got := range []string{s.RawURI, s.Query, s.ReqURI} {
					if strings.Contains(got, "access") {
						t.Errorf("access token still in %q", got)
					}
				}
				if s.Token != "" {
					t.Errorf("c.Query(access_token) = %q after removal", s.Token)
				}
			}
		})
	}
}

func TestJWTQueryRemovalKeepsTheRest(t *testing.T) {
	app := jwtApp(jwtConfig(false))
	valid := sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "exp": inAnHour()})
	tests := []struct{ target, raw, query string }{
		{"/ws/svc?path=/p&access_token=" + valid + "&x=a%20b", "/ws/svc?path=/p&x=a%20b", "path=/p&x=a%20b"},
		{"/ws/svc?access_token=" + valid, "/ws/svc", ""},
		{"/ws/svc?access_token=" + valid + "&access_token=again&a=1&&b", "/ws/svc?a=1&&b", "a=1&&b"},
		{"/admin/stats?z=%2F&access_token=" + valid, "/admin/stats?z=%2F", "z=%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			resp, s, body := doJWT(t, app, jwtCase{target: tt.target})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if s.RawURI != tt.raw || s.Query != tt.query {
				t.Errorf("raw %q query %q; want %q %q", s.RawURI, s.Query, tt.raw, tt.query)
			}
		})
	}
	// On /api the query is not a credential and stays as sent.
	resp, s, _ := doJWT(t, app, jwtCase{target: "/api/svc?access_token=x&a=1", token: valid})
	if resp.StatusCode != 200 || s.RawURI != "/api/svc?access_token=x&a=1" {
		t.Errorf("/api query changed: %d %q", resp.StatusCode, s.RawURI)
	}
}

func TestJWTSubjectHeader(t *testing.T) {
	valid := sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "exp": inAnHour()})
	noSub := sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"iss": "x", "exp": inAnHour()})
	off := config.Default()
	off.AuthRequired = false
	tests := []struct {
		name            string
		cfg             *config.Config
		token           string
		subject, header string
	}{
		{"forwarded", jwtConfig(true), valid, "alice", "alice"},
		{"not forwarded, spoof stripped", jwtConfig(false), valid, "alice", ""},
		{"no subject, spoof stripped", jwtConfig(true), noSub, "", ""},
		{"auth off, spoof stripped", off, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := jwtApp(tt.cfg)
			resp, s, body := doJWT(t, app, jwtCase{target: "/api/svc", token: tt.token}, HeaderAuthSubject, "root")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if s.Subject != tt.subject || s.Forwarded != tt.header {
				t.Errorf("Subject %q header %q; want %q %q", s.Subject, s.Forwarded, tt.subject, tt.header)
			}
		})
	}
}

func TestJWTExemptPathsOpen(t *testing.T) {
	resp, _, _ := doJWT(t, jwtApp(jwtConfig(false)), jwtCase{target: "/healthz"})
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz status %d", resp.StatusCode)
	}
}

func TestDropQueryParam(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"access_token=1", ""},
		{"a=1&access_token=2&b=3", "a=1&b=3"},
		{"access_token", ""},
		{"access_token=1&access_token=2", ""},
		{"access%5ftoken=1&a", "a"},
		{"access+token=1", "access+token=1"},
		{"access_tokenx=1&xaccess_token=2", "access_tokenx=1&xaccess_token=2"},
		{"a=access_token", "a=access_token"},
		{"&&a=1&", "&&a=1&"},
		{"%", "%"},
		{"access_token%=1", "access_token%=1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(dropQueryParam([]byte(tt.in), AccessTokenParam)); got != tt.want {
				t.Errorf("dropQueryParam(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
