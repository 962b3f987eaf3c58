package app_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/internal/gatewaytest"
	"gateway/internal/jwkstest"
)

// TestJWKSThroughTheGateway: the real gateway fetches a JWKS at start and
// lets an RS256 token of its issuer and audience through /api, forwarding
// the subject; a token of another key gets 401 and never reaches the
// upstream. While the set is not loaded (its endpoint down) the answer is
// 401 too, never a 500.
func TestJWKSThroughTheGateway(t *testing.T) {
	key, other := jwkstest.RSA(t, "k1"), jwkstest.RSA(t, "k1")
	idp := jwkstest.NewServer(t, key)
	up, hits := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.AuthRequired = true
	cfg.JWTJWKSURLs = []string{gatewaytest.DeadURL(t), idp.URL}
	cfg.JWTIssuer = "https://idp.test/"
	cfg.JWTAudience = []string{"gateway"}
	cfg.JWTForwardSubject = true
	gw := gatewaytest.Start(t, cfg)

	claims := jwt.MapClaims{"sub": "alice", "iss": "https://idp.test/", "aud": "gateway", "exp": time.Now().Add(time.Hour).Unix()}
	bearer := map[string]string{"Authorization": "Bearer " + key.Sign(t, claims)}
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		resp := httpGet(t, gw.URL+"/api/s/x", bearer)
		defer resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 401 {
			t.Fatalf("status %d while the key set loads, want 401 or 200", resp.StatusCode)
		}
		return resp.StatusCode == 200
	}, "the JWKS-signed token to be accepted")
	if s := decodeSeen(t, httpGet(t, gw.URL+"/api/s/x", bearer)); s.Header.Get("X-Auth-Subject") != "alice" {
		t.Errorf("upstream X-Auth-Subject %q, want alice", s.Header.Get("X-Auth-Subject"))
	}
	before := hits.Load()
	resp := httpGet(t, gw.URL+"/api/s/x", map[string]string{"Authorization": "Bearer " + other.Sign(t, claims)})
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("other key: status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	readError(t, resp)
	if hits.Load() != before {
		t.Fatal("a token of another key reached the upstream")
	}
}
