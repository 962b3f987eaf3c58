// Package apierror writes the gateway's own error responses in one shape,
// {"error": "...", "requestId": "..."}, so every component answers alike.
package apierror

import (
	"bytes"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID is the header that carries the request id both ways.
const HeaderRequestID = "X-Request-Id"

// Write answers the request with status and a JSON error body carrying msg
// and the request id. It replaces any body and content type already set, and
// keeps headers set earlier (x-request-id, Retry-After, WWW-Authenticate).
// msg must be plain ASCII without quotes or backslashes; callers pass
// constants, so Write needs no JSON encoder and does not allocate.
func Write(c *fiber.Ctx, status int, msg string) error {
	// The request header is the id's home: the request-id middleware puts it
	// there, and a failed upstream exchange may have reset the response.
	id := c.Request().Header.Peek(HeaderRequestID)
	resp := c.Response()
	if len(id) > 0 {
		resp.Header.SetBytesV(HeaderRequestID, id)
	}
	resp.SetStatusCode(status)
	resp.Header.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
	resp.ResetBody()
	resp.AppendBodyString(bodyPrefix)
	resp.AppendBodyString(msg)
	resp.AppendBodyString(`","requestId":"`)
	resp.AppendBody(id) // request ids are validated to [A-Za-z0-9._:-]
	resp.AppendBodyString(`"}`)
	return nil
}

// WriteRetry is Write with a Retry-After header of the given seconds, for 503
// and 429 answers that tell the client when to come back.
func WriteRetry(c *fiber.Ctx, status int, msg string, retryAfterSeconds int) error {
	var buf [20]byte
	c.Response().Header.SetBytesV(fiber.HeaderRetryAfter, strconv.AppendInt(buf[:0], int64(retryAfterSeconds), 10))
	return Write(c, status, msg)
}

// Body returns the JSON error body Write sends, for answers written
// outside any request (a connection refused before one was read). msg and
// id follow Write's rules: plain ASCII without quotes or backslashes.
func Body(msg, id string) []byte {
	return []byte(bodyPrefix + msg + `","requestId":"` + id + `"}`)
}

// bodyPrefix starts every body Write sends.
const bodyPrefix = `{"error":"`

// Message returns the message of a body Write sent, for the trace span of
// the request it answered: Write's messages hold no quote, so the message
// runs to the next one. It reports false for any other body (an
// upstream's).
func Message(body []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(body, []byte(bodyPrefix))
	if !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	return string(rest[:end]), true
}
