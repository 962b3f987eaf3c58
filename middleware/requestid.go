package middleware

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/apierror"
)

// maxRequestIDLen bounds an incoming x-request-id that the gateway keeps.
const maxRequestIDLen = 128

// RequestIDs issues request ids: a random per-process prefix and a counter,
// so ids are unique across replicas and cost one atomic add, not a UUID's
// read of crypto/rand per request.
type RequestIDs struct {
	prefix [16]byte
	next   atomic.Uint64
}

// NewRequestIDs returns a generator with a fresh random prefix.
func NewRequestIDs() *RequestIDs {
	g := &RequestIDs{}
	var raw [8]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on Linux (Go 1.24+)
	hex.Encode(g.prefix[:], raw[:])
	return g
}

// Append appends a new id to dst: 16 hex digits, '-', a base-36 counter.
func (g *RequestIDs) Append(dst []byte) []byte {
	dst = append(dst, g.prefix[:]...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, g.next.Add(1), 36)
}

// RequestID returns the middleware that gives every request an id: the
// client's x-request-id when it is 1-128 characters of [A-Za-z0-9._:-],
// else a new one. The id is set on the request (so it goes upstream) and on
// the response before anything else runs, so every answer carries it. A
// request carries exactly one id afterwards: further x-request-id fields a
// client sent are dropped, never forwarded unchecked.
func RequestID(g *RequestIDs) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := &c.Context().Request.Header
		var buf [maxRequestIDLen]byte
		id := req.Peek(apierror.HeaderRequestID)
		if ValidRequestID(id) {
			id = append(buf[:0], id...) // Del below reuses the header's memory
		} else {
			id = g.Append(buf[:0])
		}
		req.Del(apierror.HeaderRequestID)
		req.SetBytesV(apierror.HeaderRequestID, id)
		id = req.Peek(apierror.HeaderRequestID)
		c.Context().Response.Header.SetBytesV(apierror.HeaderRequestID, id)
		return c.Next()
	}
}

// ValidRequestID reports whether id may be kept as a request id.
func ValidRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, b := range id {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case b == '.', b == '_', b == ':', b == '-':
		default:
			return false
		}
	}
	return true
}

// GetRequestID returns the request's id, kept on the request header so it
// survives a response reset (valid until the handler returns).
func GetRequestID(c *fiber.Ctx) []byte {
	return c.Context().Request.Header.Peek(apierror.HeaderRequestID)
}
