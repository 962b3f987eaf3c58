package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"gateway/apierror"
)

// errorHandler answers every error that reaches Fiber (no route, a method
// not allowed, a malformed or oversize request) in the gateway's JSON error
// shape. Messages are the status's standard text, never request data.
func errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	return apierror.Write(c, code, utils.StatusMessage(code))
}
