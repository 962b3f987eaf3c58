package middleware

import (
	"crypto"
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"gateway/config"
)

// KeySource finds the public key of an asymmetric token: the key with this
// kid that verifies alg (kid "" when the token names none). It must not
// block; *jwks.Set is the implementation.
type KeySource interface {
	Key(kid, alg string) (crypto.PublicKey, error)
}

// Why the key function refuses a token; every one answers 401.
var (
	errAlgRefused = errors.New("signing method not accepted")
	errNoSecret   = errors.New("HS256 token but no JWT_SECRET")
	errNoKeys     = errors.New("asymmetric token but no JWT_JWKS_URL")
	errBadKID     = errors.New("kid header is not a string")
	errCrit       = errors.New("crit header: no extension is understood")
)

// key is the jwt.Keyfunc. The alg header picks the method by identity
// (golang-jwt resolves it from its registry, case-sensitively); the method
// decides where the key comes from, so an HS256 token is checked against the
// secret alone and never against key-set material, and an asymmetric token
// gets only a key whose type pins that very algorithm.
func (a *jwtAuth) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	switch t.Method {
	case jwt.SigningMethodHS256:
		if len(a.secret) == 0 {
			return nil, errNoSecret
		}
		return a.secret, nil
	case jwt.SigningMethodRS256, jwt.SigningMethodES256, jwt.SigningMethodEdDSA:
		if a.keys == nil {
			return nil, errNoKeys
		}
		kid := ""
		if v, ok := t.Header["kid"]; ok {
			if kid, ok = v.(string); !ok {
				return nil, errBadKID
			}
		}
		return a.keys.Key(kid, t.Method.Alg())
	}
	return nil, errAlgRefused
}

// methods lists the algorithms this configuration can verify, for the
// parser's own allow-list (a second fence behind key).
func (a *jwtAuth) methods() []string {
	var m []string
	if len(a.secret) > 0 {
		m = append(m, jwt.SigningMethodHS256.Alg())
	}
	if a.keys != nil {
		m = append(m, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg())
	}
	if m == nil {
		m = []string{"-"} // nothing verifies; an empty list would allow every method
	}
	return m
}

// claimOptions are the claim checks of cfg: leeway on exp and nbf, exp
// required unless JWT_REQUIRE_EXP=false, iss and aud when configured.
func claimOptions(cfg *config.Config) []jwt.ParserOption {
	opts := []jwt.ParserOption{jwt.WithLeeway(cfg.JWTLeeway)}
	if cfg.JWTRequireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.JWTIssuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.JWTIssuer))
	}
	if len(cfg.JWTAudience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.JWTAudience...))
	}
	return opts
}
