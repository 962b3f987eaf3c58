package handlers

import (
	"github.com/gofiber/fiber/v2"
)

// ReadyCheck returns a short reason when the gateway should not take new
// traffic (draining, shedding load), or "" when it may.
type ReadyCheck func() string

// Health serves liveness and readiness.
type Health struct {
	checks []ReadyCheck
}

// NewHealth returns the health handlers; /readyz fails while any check
// returns a reason.
func NewHealth(checks ...ReadyCheck) *Health {
	return &Health{checks: checks}
}

// Live answers GET /healthz: 200 while the process serves at all.
func (h *Health) Live(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// Ready answers GET /readyz: 200 when configured, listening and under its
// limits; 503 with the reason while draining or shedding, so a load
// balancer stops sending new traffic.
func (h *Health) Ready(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	for _, check := range h.checks {
		if reason := check(); reason != "" {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": reason})
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
