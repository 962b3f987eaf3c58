package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// The algorithms a key may verify, one per key type (RFC 7518 §3.1,
// RFC 8037 §3.1). Pinning one algorithm to each key is RFC 8725 §3.1's
// advice: it is what makes alg-confusion forgeries impossible.
const (
	RS256 = "RS256" // kty RSA, at least 2048 bits
	ES256 = "ES256" // kty EC, crv P-256
	EdDSA = "EdDSA" // kty OKP, crv Ed25519
)

// Bounds on what one set may hold. RFC 7518 §3.3 requires RSA keys of 2048
// bits or more; 8192 bits caps the cost of one verification, as a huge
// modulus makes every request verified with it slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
	maxKeys    = 256
)

// key is one verification key of a set: its type fixed its algorithm.
type key struct {
	kid string
	alg string
	pub crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// jwk is the wire form of one JSON Web Key (RFC 7517 §4, RFC 7518 §6).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
}

// errNotASet refuses a body that is JSON but not a JWK Set.
var errNotASet = errors.New(`not a JWK Set: no "keys" array`)

// parseSet decodes a JWK Set (RFC 7517 §5). It fails only when the body is
// not a set at all; a key it cannot use is left out and reported in
// skipped, so one odd key (an encryption key, an unsupported curve) does not
// cost the set its other keys.
func parseSet(body []byte) (keys map[string][]key, skipped []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("decoding JWK Set: %w", err)
	}
	if set.Keys == nil {
		return nil, nil, errNotASet
	}
	keys = make(map[string][]key, len(set.Keys))
	n := 0
	for i, raw := range set.Keys {
		if n == maxKeys {
			skipped = append(skipped, fmt.Errorf("keys after the first %d ignored", maxKeys))
			break
		}
		var w jwk
		if err := json.Unmarshal(raw, &w); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		k, err := w.key()
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i, w.Kid, err))
			continue
		}
		keys[k.kid] = append(keys[k.kid], k)
		n++
	}
	return keys, skipped, nil
}

// key checks w and builds its public key. The key type decides the
// algorithm; a JWK "alg" that names another one, a "use" other than "sig",
// "key_ops" without "verify", and private key material (a published private
// key means anyone can sign) are all refused.
func (w *jwk) key() (key, error) {
	alg, err := w.pinnedAlg()
	if err != nil {
		return key{}, err
	}
	if w.Alg != "" && w.Alg != alg {
		return key{}, fmt.Errorf("alg %q does not match kty %q, which verifies %s only", w.Alg, w.Kty, alg)
	}
	if w.Use != "" && w.Use != "sig" {
		return key{}, fmt.Errorf("use %q is not sig", w.Use)
	}
	if w.KeyOps != nil && !slices.Contains(w.KeyOps, "verify") {
		return key{}, errors.New(`key_ops lacks "verify"`)
	}
	if w.D != "" {
		return key{}, errors.New("holds private key material")
	}
	var pub crypto.PublicKey
	switch alg {
	case RS256:
		pub, err = w.rsa()
	case ES256:
		pub, err = w.ecdsa()
	default:
		pub, err = w.ed25519()
	}
	if err != nil {
		return key{}, err
	}
	return key{kid: w.Kid, alg: alg, pub: pub}, nil
}

// pinnedAlg is the one algorithm w's type verifies. Symmetric ("oct") keys
// are refused: an HMAC secret has no place in a published set, and HS256
// tokens are verified with JWT_SECRET alone.
func (w *jwk) pinnedAlg() (string, error) {
	switch {
	case w.Kty == "RSA":
		return RS256, nil
	case w.Kty == "EC" && w.Crv == "P-256":
		return ES256, nil
	case w.Kty == "OKP" && w.Crv == "Ed25519":
		return EdDSA, nil
	case w.Kty == "EC" || w.Kty == "OKP":
		return "", fmt.Errorf("kty %q crv %q is not supported (P-256, Ed25519)", w.Kty, w.Crv)
	}
	return "", fmt.Errorf("kty %q is not supported (RSA, EC, OKP)", w.Kty)
}

// rsa builds an RSA key from n and e (RFC 7518 §6.3.1).
func (w *jwk) rsa() (*rsa.PublicKey, error) {
	n, err := decode("n", w.N, 0)
	if err != nil {
		return nil, err
	}
	e, err := decode("e", w.E, 0)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New("e is longer than 4 bytes")
	}
	var ev uint64
	for _, b := range e {
		ev = ev<<8 | uint64(b)
	}
	if ev < 3 || ev > 1<<31-1 || ev%2 == 0 {
		return nil, fmt.Errorf("e %d is not an odd exponent in [3, 2^31)", ev)
	}
	mod := new(big.Int).SetBytes(n)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("modulus of %d bits is outside [%d, %d]", bits, minRSABits, maxRSABits)
	}
	return &rsa.PublicKey{N: mod, E: int(ev)}, nil
}

// ecdsa builds a P-256 key from x and y, each exactly 32 bytes (RFC 7518
// §6.2.1.2), refusing a point that is not on the curve.
func (w *jwk) ecdsa() (*ecdsa.PublicKey, error) {
	x, err := decode("x", w.X, 32)
	if err != nil {
		return nil, err
	}
	y, err := decode("y", w.Y, 32)
	if err != nil {
		return nil, err
	}
	point := append(append([]byte{4}, x...), y...) // SEC 1 §2.3.3 uncompressed form
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("P-256 point: %w", err)
	}
	return pub, nil
}

// ed25519 builds an Ed25519 key from x, exactly 32 bytes (RFC 8037 §2).
func (w *jwk) ed25519() (ed25519.PublicKey, error) {
	x, err := decode("x", w.X, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(x), nil
}

// decode reads a base64url member (RFC 7515 §2, unpadded; trailing padding,
// which some providers add, is tolerated). size > 0 requires that length.
func decode(name, s string, size int) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if size > 0 && len(b) != size {
		return nil, fmt.Errorf("%s is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}
