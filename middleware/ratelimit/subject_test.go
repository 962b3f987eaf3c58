package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"gateway/middleware"
)

// TestSubjectFromJWT checks that RATE_LIMIT_KEY=sub reads, by default, the
// subject the JWT middleware verified: each subject has its own quota.
func TestSubjectFromJWT(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-test"
	cfg := rateConfig(1, time.Minute, "sub")
	cfg.AuthRequired, cfg.JWTSecret = true, secret
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	app := fiber.New()
	app.Use("/api", middleware.NewJWT(cfg), l.Handler())
	app.All("/api/*", func(c *fiber.Ctx) error { return c.SendString("ok") })

	token := func(sub string) string {
		claims := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	alice, bob := token("alice"), token("bob")
	for i, c := range []struct {
		token string
		want  int
	}{{alice, 200}, {alice, 429}, {bob, 200}} {
		req := httptest.NewRequest(http.MethodGet, "/api/x", nil)
		req.Header.Set(fiber.HeaderAuthorization, "Bearer "+c.token)
		req.Header.Set(fiber.HeaderXForwardedFor, "198.51.100.1") // one address for all
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, c.want)
		}
	}
}
