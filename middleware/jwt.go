package middleware

import (
	"bytes"
	"errors"
	"strings"

	jwtware "github.com/gofiber/contrib/jwt"
	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"gateway/config"
	"gateway/internal/apierror"
	"gateway/internal/pct"
)

// HeaderAuthSubject carries the verified token's subject to the upstream when
// JWT_FORWARD_SUBJECT is on. A client-sent copy is always removed, so an
// upstream can trust it came from the gateway.
const HeaderAuthSubject = "X-Auth-Subject"

// AccessTokenParam is the query parameter that may carry the token on /ws and
// /admin, where browsers cannot set an Authorization header (WebSocket, links).
const AccessTokenParam = "access_token"

// jwtTokenLocal is where gofiber/contrib/jwt leaves the parsed token.
const jwtTokenLocal = "gateway.jwt.token"

// subjectLocal is the Locals key of the verified subject; a private type so
// no other package can collide with it or forge it.
type subjectLocal struct{}

// Subject returns the verified `sub` claim of the request's token, or "" when
// the request was not authenticated (auth off, or the token had no subject).
// It is set by the middleware NewJWT returns, for later middleware such as
// the rate limiter (RATE_LIMIT_KEY=sub) and the cache.
func Subject(c *fiber.Ctx) string {
	s, _ := c.Locals(subjectLocal{}).(string)
	return s
}

// jwtAuth holds the two configured contrib handlers and what they share.
type jwtAuth struct {
	secret  []byte    // JWT_SECRET: verifies HS256 tokens, and only those
	keys    KeySource // JWT_JWKS_URL: verifies RS256, ES256 and EdDSA tokens; nil when unset
	forward bool
	// parser verifies a token again with every check contrib's bare
	// jwt.Parse cannot apply (leeway, issuer, audience, required exp);
	// claims checks those on a token contrib accepted. See onInvalid.
	parser *jwt.Parser
	claims *jwt.Validator
	// headerOnly reads "Authorization: Bearer"; headerOrQuery also reads
	// access_token, for /ws and /admin.
	headerOnly, headerOrQuery fiber.Handler
}

// JWTOption configures NewJWT.
type JWTOption func(*jwtAuth)

// WithJWTKeys sets where RS256, ES256 and EdDSA tokens find their keys,
// normally the *jwks.Set of JWT_JWKS_URL, which the caller starts and
// closes. Without it every asymmetric token is refused.
func WithJWTKeys(k KeySource) JWTOption { return func(a *jwtAuth) { a.keys = k } }

// NewJWT returns the authentication middleware: a request must carry a JWT
// in "Authorization: Bearer", or, under /ws and /admin only, in the
// access_token query parameter, which is then removed from the request
// before it goes upstream. Failures answer 401 with WWW-Authenticate: Bearer
// (RFC 6750 §3), plus error="invalid_token" when a token was sent but
// refused.
//
// A token is verified by one key, and the key decides the algorithm
// (RFC 8725 §3.1): HS256 with cfg.JWTSecret alone; RS256, ES256 and EdDSA
// with the key of the token's kid from the key source (WithJWTKeys), whose
// type pins its algorithm. Everything else is refused: "none", HS384/HS512,
// PS*, an alg that does not match the key, and the key-confusion trick of an
// HS256 token "signed" with a public key, since HS256 never reaches the key
// set. jku, x5u and jwk headers are never consulted; a crit header is refused
// (RFC 7515 §4.1.11: no extension is understood).
//
// Claims: exp and nbf are checked with cfg.JWTLeeway; exp is required
// unless cfg.JWTRequireExp is false; iss must equal cfg.JWTIssuer and aud
// hold one of cfg.JWTAudience, when those are set (RFC 7519 §4.1).
//
// Client-sent X-Auth-Subject is always stripped. With cfg.AuthRequired false
// the returned handler does only that, so the app may install NewJWT on every
// proxy route whatever the setting and upstreams can trust the header.
func NewJWT(cfg *config.Config, opts ...JWTOption) fiber.Handler {
	if !cfg.AuthRequired {
		return stripSubject
	}
	a := &jwtAuth{secret: []byte(cfg.JWTSecret), forward: cfg.JWTForwardSubject}
	for _, o := range opts {
		o(a)
	}
	claims := claimOptions(cfg)
	a.claims = jwt.NewValidator(claims...)
	a.parser = jwt.NewParser(append(claims, jwt.WithValidMethods(a.methods()))...)
	a.headerOnly = jwtware.New(a.contribConfig("header:" + fiber.HeaderAuthorization))
	a.headerOrQuery = jwtware.New(a.contribConfig("header:" + fiber.HeaderAuthorization + ",query:" + AccessTokenParam))
	return a.handle
}

// stripSubject removes any client-sent X-Auth-Subject.
func stripSubject(c *fiber.Ctx) error {
	c.Request().Header.Del(HeaderAuthSubject)
	return c.Next()
}

// contribConfig configures gofiber/contrib/jwt for one token lookup. Our own
// KeyFunc picks the key and pins the algorithm; contrib's SigningKey(s) and
// JWKSetURLs do not fit (see package jwks and KeyFunc).
func (a *jwtAuth) contribConfig(lookup string) jwtware.Config {
	return jwtware.Config{
		KeyFunc:        a.key,
		TokenLookup:    lookup,
		AuthScheme:     "Bearer",
		ContextKey:     jwtTokenLocal,
		SuccessHandler: a.onValid,
		ErrorHandler:   a.onInvalid,
	}
}

// handle strips the spoofable header and lets contrib authenticate.
func (a *jwtAuth) handle(c *fiber.Ctx) error {
	c.Request().Header.Del(HeaderAuthSubject)
	if queryTokenAllowed(c.Path()) {
		return a.headerOrQuery(c)
	}
	return a.headerOnly(c)
}

// onValid runs when contrib verified the signature, exp and nbf; the
// claims it does not check (required exp, iss, aud) are checked here.
func (a *jwtAuth) onValid(c *fiber.Ctx) error {
	t, _ := c.Locals(jwtTokenLocal).(*jwt.Token)
	if t == nil || a.claims.Validate(t.Claims) != nil {
		return a.deny(c, true)
	}
	return a.accept(c, t)
}

// onInvalid runs when contrib refused the request. contrib parses with a bare
// jwt.Parse, without parser options, so it cannot apply a leeway: a token
// whose only fault is exp or nbf is parsed again here, signature included,
// with every option (WithLeeway(JWT_LEEWAY_MS), issuer, audience). golang-jwt
// v5 validates claims only after the signature, so these two errors never
// come from a forged token, and the second parse costs only tokens near
// their edges.
func (a *jwtAuth) onInvalid(c *fiber.Ctx, err error) error {
	if errors.Is(err, jwtware.ErrJWTMissingOrMalformed) {
		return a.deny(c, false)
	}
	if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
		if t, perr := a.parser.Parse(requestToken(c), a.key); perr == nil && t.Valid {
			return a.accept(c, t)
		}
	}
	return a.deny(c, true)
}

// accept publishes the subject, forwards it if asked, and continues.
func (a *jwtAuth) accept(c *fiber.Ctx, t *jwt.Token) error {
	sub, err := t.Claims.GetSubject()
	if err != nil || !validSubject(sub) {
		return a.deny(c, true)
	}
	removeAccessToken(c)
	if sub != "" {
		c.Locals(subjectLocal{}, sub)
		if a.forward {
			c.Request().Header.Set(HeaderAuthSubject, sub)
		}
	}
	return c.Next()
}

// deny answers 401. invalid says a token was present but refused.
func (a *jwtAuth) deny(c *fiber.Ctx, invalid bool) error {
	removeAccessToken(c)
	if invalid {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
		return apierror.Write(c, fiber.StatusUnauthorized, "invalid or expired token")
	}
	c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	return apierror.Write(c, fiber.StatusUnauthorized, "missing bearer token")
}

// requestToken extracts the token the way contrib did: the Bearer header
// first, then access_token where the path allows it.
func requestToken(c *fiber.Ctx) string {
	const scheme = "Bearer "
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > len(scheme)+1 && strings.EqualFold(h[:len(scheme)], scheme) {
		return strings.TrimSpace(h[len(scheme):])
	}
	if queryTokenAllowed(c.Path()) {
		return c.Query(AccessTokenParam)
	}
	return ""
}

// validSubject refuses a subject that could not travel as a header value
// (control characters would let a token inject upstream headers) or is
// unreasonably long for a rate-limit or cache key.
func validSubject(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// queryTokenAllowed reports whether path is under /ws or /admin, matched
// case-insensitively by whole segment like Fiber's default routing.
func queryTokenAllowed(path string) bool {
	return hasSegmentPrefix(path, "/ws") || hasSegmentPrefix(path, "/admin")
}

// hasSegmentPrefix reports whether path is prefix or starts with prefix + "/".
func hasSegmentPrefix(path, prefix string) bool {
	if len(path) < len(prefix) || !strings.EqualFold(path[:len(prefix)], prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// removeAccessToken deletes every access_token parameter from the request's
// query, on /ws and /admin only (elsewhere it is not a credential and the
// query is forwarded as sent). Both copies are edited in place: the parsed
// URI, which Fiber and fasthttp's Request.RequestURI read, and the raw
// request line, which the proxy and access log may read. Other parameters
// keep their bytes and order.
func removeAccessToken(c *fiber.Ctx) {
	if !queryTokenAllowed(c.Path()) {
		return
	}
	req := c.Request()
	uri := req.URI()
	if q := uri.QueryString(); len(q) > 0 {
		if kept := dropQueryParam(q, AccessTokenParam); len(kept) != len(q) {
			uri.SetQueryStringBytes(kept)
		}
	}
	raw := req.Header.RequestURI()
	i := bytes.IndexByte(raw, '?')
	if i < 0 {
		return
	}
	end := len(raw)
	if j := bytes.IndexByte(raw[i:], '#'); j >= 0 {
		end = i + j
	}
	kept := dropQueryParam(raw[i+1:end], AccessTokenParam)
	if len(kept) == end-i-1 {
		return
	}
	n := i + 1 + len(kept)
	if len(kept) == 0 {
		n = i // drop the '?' too
	}
	n += copy(raw[n:], raw[end:])
	req.Header.SetRequestURIBytes(raw[:n])
}

// dropQueryParam removes, in place, every pair of query q whose key decodes
// (%XX, '+') to name, and returns the shortened q. The other pairs, empty
// ones included, keep their bytes and order.
func dropQueryParam(q []byte, name string) []byte {
	out := q[:0]
	kept := 0
	for rest := q; rest != nil; {
		seg := rest
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if pct.QueryKeyIs(seg, name) {
			continue
		}
		if kept > 0 {
			out = append(out, '&')
		}
		out = append(out, seg...) // never overtakes the read position
		kept++
	}
	return out
}
