package jwks

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"gateway/internal/jwkstest"
)

func TestParseKey(t *testing.T) {
	rsaK, ecK, edK := jwkstest.RSA(t, "r"), jwkstest.EC(t, "e"), jwkstest.Ed25519(t, "d")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	with := func(k *jwkstest.Key, kv ...any) map[string]any {
		m := maps.Clone(k.JWK)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	x := ecK.JWK["x"].(string)
	tests := []struct {
		name string
		jwk  map[string]any
		alg  string // pinned algorithm; "" = refused
		err  string // part of the refusal
	}{
		{"RSA without alg pins RS256", rsaK.JWK, RS256, ""},
		{"RSA alg RS256", with(rsaK, "alg", "RS256"), RS256, ""},
		{"RSA alg RS512 refused", with(rsaK, "alg", "RS512"), "", "does not match"},
		{"RSA alg PS256 refused", with(rsaK, "alg", "PS256"), "", "does not match"},
		{"RSA alg HS256 refused", with(rsaK, "alg", "HS256"), "", "does not match"},
		{"RSA 1024 bits refused", with(rsaK, "n", b64(small.N.Bytes())), "", "1024 bits"},
		{"RSA even e refused", with(rsaK, "e", b64([]byte{1, 0, 0})), "", "odd exponent"},
		{"RSA e of 1 refused", with(rsaK, "e", "AQ"), "", "odd exponent"},
		{"RSA huge e refused", with(rsaK, "e", b64([]byte{1, 0, 0, 0, 1})), "", "longer than 4"},
		{"RSA without n", with(rsaK, "n", nil), "", "n is missing"},
		{"RSA n not base64url", with(rsaK, "n", "+/+/"), "", "n:"},
		{"EC P-256 pins ES256", ecK.JWK, ES256, ""},
		{"EC alg ES256", with(ecK, "alg", "ES256"), ES256, ""},
		{"EC alg ES384 refused", with(ecK, "alg", "ES384"), "", "does not match"},
		{"EC alg RS256 refused", with(ecK, "alg", "RS256"), "", "does not match"},
		{"EC P-384 refused", with(ecK, "crv", "P-384"), "", "not supported"},
		{"EC point off the curve", with(ecK, "y", x), "", "P-256 point"},
		{"EC short x", with(ecK, "x", b64(make([]byte, 31))), "", "31 bytes"},
		{"EC padded base64 tolerated", with(ecK, "x", x+"="), ES256, ""},
		{"OKP Ed25519 pins EdDSA", edK.JWK, EdDSA, ""},
		{"OKP alg EdDSA", with(edK, "alg", "EdDSA"), EdDSA, ""},
		{"OKP alg ES256 refused", with(edK, "alg", "ES256"), "", "does not match"},
		{"OKP X25519 refused", with(edK, "crv", "X25519"), "", "not supported"},
		{"OKP short x", with(edK, "x", b64(make([]byte, 16))), "", "16 bytes"},
		{"oct refused", map[string]any{"kty": "oct", "kid": "h", "k": b64([]byte("secret-secret-secret-secret-1234"))}, "", `"oct" is not supported`},
		{"no kty", map[string]any{"kid": "z"}, "", "not supported"},
		{"use enc refused", with(rsaK, "use", "enc"), "", "use"},
		{"use absent", with(rsaK, "use", nil), RS256, ""},
		{"key_ops verify", with(ecK, "key_ops", []string{"verify"}), ES256, ""},
		{"key_ops sign only refused", with(ecK, "key_ops", []string{"sign"}), "", "key_ops"},
		{"private key published refused", with(edK, "d", b64(make([]byte, 32))), "", "private"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"keys": []any{tt.jwk}})
			keys, skipped, err := parseSet(body)
			if err != nil {
				t.Fatalf("parseSet: %v", err)
			}
			kid, _ := tt.jwk["kid"].(string)
			got := keys[kid]
			if tt.alg == "" {
				if len(got) != 0 || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), tt.err) {
					t.Fatalf("keys %v skipped %v; want refused with %q", got, skipped, tt.err)
				}
				return
			}
			if len(got) != 1 || got[0].alg != tt.alg || len(skipped) != 0 {
				t.Fatalf("keys %v skipped %v; want one %s key", got, skipped, tt.alg)
			}
		})
	}
}

func TestParseSet(t *testing.T) {
	many := make([]any, maxKeys+3)
	for i := range many {
		many[i] = jwkstest.Ed25519(t, "").JWK
	}
	manyBody, _ := json.Marshal(map[string]any{"keys": many})
	tests := []struct {
		name         string
		body         string
		keys, skip   int
		errSubstring string
	}{
		{"empty set", `{"keys":[]}`, 0, 0, ""},
		{"not JSON", `<html>`, 0, 0, "decoding"},
		{"no keys member", `{"key":[]}`, 0, 0, "no \"keys\""},
		{"keys not an array", `{"keys":{}}`, 0, 0, "decoding"},
		{"a key not an object", `{"keys":[1]}`, 0, 1, ""},
		{"bounded", string(manyBody), maxKeys, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseSet([]byte(tt.body))
			if tt.errSubstring != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstring) {
					t.Fatalf("err %v, want %q", err, tt.errSubstring)
				}
				return
			}
			if err != nil || countKeys(keys) != tt.keys || len(skipped) != tt.skip {
				t.Fatalf("keys %d skipped %d err %v; want %d %d", countKeys(keys), len(skipped), err, tt.keys, tt.skip)
			}
		})
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"application/jwk-set+json":        true,
		"Application/JSON":                true,
		"text/html":                       false,
		"text/plain":                      false,
		"":                                false,
		"application/jsonx":               false,
		"text/x+json":                     false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}
