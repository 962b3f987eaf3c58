// Package jwkstest serves JSON Web Key Sets over real loopback HTTP for
// tests, with keys generated per test, and signs tokens with them. It also
// misbehaves on demand: an error status, a wrong content type, garbage, a
// huge body, or a response that never comes.
package jwkstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Key is a generated signing key and the JWK that publishes its public half.
type Key struct {
	Kid     string
	Alg     string // RS256, ES256 or EdDSA
	Private crypto.Signer
	JWK     map[string]any // edit before publishing to test odd JWKs
}

var b64 = base64.RawURLEncoding

// RSA generates a 2048-bit RSA key published as kty RSA without "alg".
func RSA(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := big.NewInt(int64(k.E)).Bytes()
	return &Key{Kid: kid, Alg: "RS256", Private: k, JWK: map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(e),
	}}
}

// EC generates a P-256 key published as kty EC without "alg".
func EC(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Kid: kid, Alg: "ES256", Private: k, JWK: map[string]any{
		"kty": "EC", "kid": kid, "crv": "P-256", "x": b64.EncodeToString(pt[1:33]), "y": b64.EncodeToString(pt[33:]),
	}}
}

// Ed25519 generates an Ed25519 key published as kty OKP without "alg".
func Ed25519(t testing.TB, kid string) *Key {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Kid: kid, Alg: "EdDSA", Private: priv, JWK: map[string]any{
		"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64.EncodeToString(pub),
	}}
}

// Method is the signing method of k's algorithm.
func (k *Key) Method() jwt.SigningMethod { return jwt.GetSigningMethod(k.Alg) }

// Sign returns a token with claims signed by k, its kid in the header.
func (k *Key) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return k.SignAs(t, k.Method(), k.Kid, claims)
}

// SignAs signs with k's private key under method m and header kid (none
// when empty), for tokens whose header and key disagree.
func (k *Key) SignAs(t testing.TB, m jwt.SigningMethod, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Set is the JWK Set document publishing keys.
func Set(keys ...*Key) []byte {
	jwks := make([]map[string]any, len(keys))
	for i, k := range keys {
		jwks[i] = k.JWK
	}
	b, _ := json.Marshal(map[string]any{"keys": jwks})
	return b
}

// Server serves a JWK Set on 127.0.0.1 and counts the requests for it.
type Server struct {
	*httptest.Server
	fetches atomic.Int64
	release chan struct{} // closed at cleanup: frees hanging handlers

	mu     sync.Mutex
	status int
	ctype  string
	body   []byte
	hang   bool
}

// NewServer serves Set(keys...) until the test ends.
func NewServer(t testing.TB, keys ...*Key) *Server {
	t.Helper()
	s := &Server{release: make(chan struct{})}
	s.SetKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.Close()
	})
	return s
}

// SetKeys publishes keys from the next request on.
func (s *Server) SetKeys(keys ...*Key) { s.Respond(http.StatusOK, "application/json", Set(keys...)) }

// Respond answers every later request with this status, type and body.
func (s *Server) Respond(status int, contentType string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.ctype, s.body, s.hang = status, contentType, body, false
}

// Hang makes every later request wait, headers unsent, until its client
// gives up or the test ends.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// Fetches is the number of requests served so far.
func (s *Server) Fetches() int64 { return s.fetches.Load() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	status, ctype, body, hang := s.status, s.ctype, s.body, s.hang
	s.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
