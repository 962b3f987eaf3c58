package middleware

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"gateway/config"
	"gateway/internal/jwkstest"
	"gateway/middleware/jwks"
)

const (
	testIssuer = "https://idp.test/"
	testAud    = "api"
)

// keySet starts a jwks.Set on urls for the test and waits until it holds
// want (nil: does not wait).
func keySet(t *testing.T, urls []string, want *jwkstest.Key, opts ...jwks.Option) *jwks.Set {
	t.Helper()
	s, err := jwks.New(urls, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(s.Close)
	if want != nil {
		deadline := time.Now().Add(5 * time.Second)
		for _, err := s.Key(want.Kid, want.Alg); err != nil; _, err = s.Key(want.Kid, want.Alg) {
			if time.Now().After(deadline) {
				t.Fatalf("key %s not loaded: %v", want.Kid, err)
			}
			time.Sleep(5 * time.Millisecond) // polling interval
		}
	}
	return s
}

// jwksConfig is auth with JWT_SECRET beside a JWKS, issuer and audience set.
func jwksConfig(url string) *config.Config {
	cfg := jwtConfig(true)
	cfg.JWTJWKSURLs = []string{url}
	cfg.JWTIssuer = testIssuer
	cfg.JWTAudience = []string{testAud, "other-api"}
	return cfg
}

// idClaims are claims that pass jwksConfig, edited by extra (nil deletes).
func idClaims(extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "iss": testIssuer, "aud": testAud, "exp": inAnHour()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// pemOf is the PKIX DER and PEM of k's public key: what an attacker uses as
// an HMAC secret in the RS256→HS256 confusion.
func pemOf(t *testing.T, k *jwkstest.Key) (der, pemBytes []byte) {
	der, err := x509.MarshalPKIXPublicKey(k.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestJWTWithJWKS(t *testing.T) {
	r, e, d := jwkstest.RSA(t, "r"), jwkstest.EC(t, "e"), jwkstest.Ed25519(t, "d")
	impostor := jwkstest.RSA(t, "r") // same kid, other key: not published
	r512 := jwkstest.RSA(t, "r512")
	r512.JWK["alg"] = "RS512"
	eAsRS := jwkstest.EC(t, "eA")
	eAsRS.JWK["alg"] = "RS256"
	srv := jwkstest.NewServer(t, r, e, d, r512, eAsRS)
	app := jwtApp(jwksConfig(srv.URL), WithJWTKeys(keySet(t, []string{srv.URL}, d)))

	der, pemBytes := pemOf(t, r)
	now := time.Now()
	claims := idClaims(nil)
	hsKid := func(key []byte, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withHeader := func(k *jwkstest.Key, name string, v any) string {
		tok := jwt.NewWithClaims(k.Method(), claims)
		tok.Header["kid"], tok.Header[name] = k.Kid, v
		s, err := tok.SignedString(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const invalid = `Bearer error="invalid_token"`
	tests := []jwtCase{
		{name: "RS256", target: "/api/svc", token: r.Sign(t, claims), status: 200, subject: "alice"},
		{name: "ES256", target: "/api/svc", token: e.Sign(t, claims), status: 200, subject: "alice"},
		{name: "EdDSA", target: "/sse/svc", token: d.Sign(t, claims), status: 200, subject: "alice"},
		{name: "EdDSA by query on /ws", target: "/ws/svc?access_token=" + d.Sign(t, claims), status: 200, subject: "alice"},
		{name: "audience list holding one", target: "/api/svc", token: r.Sign(t, idClaims(jwt.MapClaims{"aud": []string{"x", "other-api"}})), status: 200, subject: "alice"},
		{name: "HS256 secret beside the JWKS", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims), status: 200, subject: "alice"},
		{name: "expired within leeway", target: "/api/svc", token: e.Sign(t, idClaims(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()})), status: 200, subject: "alice"},

		{name: "another key, same kid", target: "/api/svc", token: impostor.Sign(t, claims), status: 401, challenge: invalid},
		{name: "unknown kid", target: "/api/svc", token: impostor.SignAs(t, jwt.SigningMethodRS256, "nope", claims), status: 401, challenge: invalid},
		{name: "HS256 with the RSA public key PEM as secret", target: "/api/svc", token: hsKid(pemBytes, "r"), status: 401, challenge: invalid},
		{name: "HS256 with the RSA public key DER as secret", target: "/api/svc", token: hsKid(der, "r"), status: 401, challenge: invalid},
		{name: "alg none with a JWKS kid", target: "/api/svc", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
			tok.Header["kid"] = "r"
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), status: 401, challenge: invalid},
		{name: "RS256 token against the EC key", target: "/api/svc", token: r.SignAs(t, jwt.SigningMethodRS256, "e", claims), status: 401, challenge: invalid},
		{name: "ES256 token against the RSA key", target: "/api/svc", token: e.SignAs(t, jwt.SigningMethodES256, "r", claims), status: 401, challenge: invalid},
		{name: "EdDSA token against the RSA key", target: "/api/svc", token: d.SignAs(t, jwt.SigningMethodEdDSA, "r", claims), status: 401, challenge: invalid},
		{name: "PS256 with the RSA key", target: "/api/svc", token: r.SignAs(t, jwt.SigningMethodPS256, "r", claims), status: 401, challenge: invalid},
		{name: "RS512 with the RSA key", target: "/api/svc", token: r.SignAs(t, jwt.SigningMethodRS512, "r", claims), status: 401, challenge: invalid},
		{name: "JWK alg RS512: RS256 token", target: "/api/svc", token: r512.Sign(t, claims), status: 401, challenge: invalid},
		{name: "JWK alg RS512: RS512 token", target: "/api/svc", token: r512.SignAs(t, jwt.SigningMethodRS512, "r512", claims), status: 401, challenge: invalid},
		{name: "JWK alg RS256 on an EC key", target: "/api/svc", token: eAsRS.Sign(t, claims), status: 401, challenge: invalid},
		{name: "wrong issuer", target: "/api/svc", token: r.Sign(t, idClaims(jwt.MapClaims{"iss": "https://evil.test/"})), status: 401, challenge: invalid},
		{name: "no issuer", target: "/api/svc", token: r.Sign(t, idClaims(jwt.MapClaims{"iss": nil})), status: 401, challenge: invalid},
		{name: "HS256 checks the issuer too", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), idClaims(jwt.MapClaims{"iss": "x"})), status: 401, challenge: invalid},
		{name: "wrong audience", target: "/api/svc", token: r.Sign(t, idClaims(jwt.MapClaims{"aud": []string{"billing"}})), status: 401, challenge: invalid},
		{name: "no audience", target: "/api/svc", token: r.Sign(t, idClaims(jwt.MapClaims{"aud": nil})), status: 401, challenge: invalid},
		{name: "no exp", target: "/api/svc", token: e.Sign(t, idClaims(jwt.MapClaims{"exp": nil})), status: 401, challenge: invalid},
		{name: "expired", target: "/api/svc", token: e.Sign(t, idClaims(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), status: 401, challenge: invalid},
		{name: "expired within leeway, wrong audience", target: "/api/svc", token: e.Sign(t, idClaims(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix(), "aud": "billing"})), status: 401, challenge: invalid},
		{name: "crit header", target: "/api/svc", token: withHeader(d, "crit", []string{"exp"}), status: 401, challenge: invalid},
		{name: "kid not a string", target: "/api/svc", token: withHeader(d, "kid", 7), status: 401, challenge: invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkJWT(t, app, tc) })
	}
}

// checkJWT runs tc against app and checks its status, challenge and subject.
func checkJWT(t *testing.T, app *fiber.App, tc jwtCase) {
	t.Helper()
	resp, s, body := doJWT(t, app, tc)
	if resp.StatusCode != tc.status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
	}
	if tc.status == 401 {
		if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
		}
		return
	}
	if s.Subject != tc.subject {
		t.Errorf("subject %q, want %q", s.Subject, tc.subject)
	}
}

func TestJWTJWKSOnly(t *testing.T) {
	r := jwkstest.RSA(t, "r")
	srv := jwkstest.NewServer(t, r)
	cfg := jwksConfig(srv.URL)
	cfg.JWTSecret = ""
	cfg.JWTRequireExp = false
	app := jwtApp(cfg, WithJWTKeys(keySet(t, []string{srv.URL}, r)))
	der, pemBytes := pemOf(t, r)
	noExp := idClaims(jwt.MapClaims{"exp": nil})
	tests := []jwtCase{
		{name: "no exp accepted with JWT_REQUIRE_EXP=false", target: "/api/svc", token: r.Sign(t, noExp), status: 200, subject: "alice"},
		{name: "HS256 without a secret", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, []byte(testSecret), noExp), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "HS256 with the public key PEM, no secret", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, pemBytes, noExp), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "HS256 with the public key DER, no secret", target: "/api/svc", token: sign(t, jwt.SigningMethodHS256, der, noExp), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "missing", target: "/api/svc", status: 401, challenge: "Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkJWT(t, app, tc) })
	}
}

func TestJWTNoExpAcceptedWhenNotRequired(t *testing.T) {
	cfg := jwtConfig(false)
	cfg.JWTRequireExp = false
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "bob"})
	checkJWT(t, jwtApp(cfg), jwtCase{target: "/api/svc", token: tok, status: 200, subject: "bob"})
	checkJWT(t, jwtApp(jwtConfig(false)), jwtCase{target: "/api/svc", token: tok, status: 401, challenge: `Bearer error="invalid_token"`})
}

// TestJWTJWKSRotation: a token signed by a key published after the set was
// loaded is accepted within seconds (its unknown kid triggers a refetch).
func TestJWTJWKSRotation(t *testing.T) {
	old, next := jwkstest.RSA(t, "old"), jwkstest.Ed25519(t, "next")
	srv := jwkstest.NewServer(t, old)
	app := jwtApp(jwksConfig(srv.URL), WithJWTKeys(keySet(t, []string{srv.URL}, old, jwks.WithMinRefetch(200*time.Millisecond))))
	tc := jwtCase{target: "/api/svc", token: next.Sign(t, idClaims(nil)), status: 401, challenge: `Bearer error="invalid_token"`}
	checkJWT(t, app, tc)
	srv.SetKeys(old, next)
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, _, _ := doJWT(t, app, tc)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated key not accepted within 3s (status %d, %d fetches)", resp.StatusCode, srv.Fetches())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestJWTJWKSEndpointFailures: whatever the JWKS endpoint does, a request
// with an asymmetric token gets the 401 shape at once, never a 500 or a
// wait; HS256 tokens keep working beside it.
func TestJWTJWKSEndpointFailures(t *testing.T) {
	k := jwkstest.RSA(t, "k")
	valid := jwkstest.Set(k)
	tests := []struct {
		name  string
		setup func(*jwkstest.Server)
		dead  bool
	}{
		{"down", nil, true},
		{"hangs", func(s *jwkstest.Server) { s.Hang() }, false},
		{"huge", func(s *jwkstest.Server) {
			s.Respond(200, "application/json", append(valid[:len(valid)-1:len(valid)-1], []byte(strings.Repeat(" ", jwks.DefaultMaxBody)+"}")...))
		}, false},
		{"garbage", func(s *jwkstest.Server) { s.Respond(200, "application/json", []byte("<html>oops")) }, false},
		{"error status", func(s *jwkstest.Server) { s.Respond(503, "application/json", valid) }, false},
		{"not JSON", func(s *jwkstest.Server) { s.Respond(200, "text/plain", valid) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jwkstest.NewServer(t)
			u := srv.URL
			if tt.dead {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				u = "http://" + ln.Addr().String()
				_ = ln.Close()
			} else {
				tt.setup(srv)
			}
			cfg := jwksConfig(u)
			app := jwtApp(cfg, WithJWTKeys(keySet(t, []string{u}, nil, jwks.WithMinRefetch(0), jwks.WithTimeout(200*time.Millisecond))))
			if !tt.dead {
				deadline := time.Now().Add(5 * time.Second)
				for srv.Fetches() == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond) // polling interval: the first fetch has begun
				}
			}
			for i := range 5 {
				status, challenge := timedRequest(t, app, "/api/svc", k.Sign(t, idClaims(nil)))
				if status != 401 || challenge != `Bearer error="invalid_token"` {
					t.Fatalf("request %d: status %d challenge %q, want 401 invalid_token", i, status, challenge)
				}
			}
			status, _ := timedRequest(t, app, "/api/svc", sign(t, jwt.SigningMethodHS256, []byte(testSecret), idClaims(nil)))
			if status != 200 {
				t.Fatalf("HS256 beside a failing JWKS: status %d", status)
			}
		})
	}
}

// timedRequest sends one GET with a bearer token and fails the test unless
// the answer comes within a second.
func timedRequest(t *testing.T, app *fiber.App, target, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := app.Test(req, 1000) // the deadline: app.Test fails past it
	if err != nil {
		t.Fatalf("no answer within 1s: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 401 && !strings.Contains(string(body), `"requestId":`) {
		t.Errorf("401 body %s lacks the error shape", body)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}
