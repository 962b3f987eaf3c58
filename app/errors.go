package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"gateway/internal/apierror"
	"gateway/middleware"
)

// errorHandler answers every error that reaches Fiber (no route, a method
// not allowed, a malformed or oversize request) in the gateway's JSON error
// shape. Messages are the status's standard text, never request data. A
// request refused before any middleware ran (bad framing, headers over
// MAX_HEADER_BYTES) gets its request id here, so that answer carries one
// too.
func errorHandler(ids *middleware.RequestIDs) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		code := fiber.StatusInternalServerError
		var fe *fiber.Error
		if errors.As(err, &fe) {
			code = fe.Code
		}
		h := &c.Context().Request.Header
		if !middleware.ValidRequestID(h.Peek(apierror.HeaderRequestID)) {
			var buf [48]byte
			h.Del(apierror.HeaderRequestID)
			h.SetBytesV(apierror.HeaderRequestID, ids.Append(buf[:0]))
		}
		return apierror.Write(c, code, utils.StatusMessage(code))
	}
}
