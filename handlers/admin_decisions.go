package handlers

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/apierror"
	"gateway/upstream"
)

// Messages of the decision routes' error answers.
const (
	msgNoDecision = "no routing decision for this request id (never made, or no longer in the decision log)"
	msgBadLimit   = "limit must be an integer from 1 to 100"
)

// maxRecentDecisions bounds GET /admin/decisions?limit=.
const maxRecentDecisions = 100

// DecisionLog is what the decision routes read; *upstream.Pool satisfies
// it.
type DecisionLog interface {
	Decision(requestID string) (upstream.Decision, bool)
	Decisions(limit int) []upstream.Decision
}

// Decisions answers why a request went where it went, from the pool's
// decision log: GET /admin/decisions/{requestId} for one request, and
// GET /admin/decisions for the newest ones (the dashboard's list).
type Decisions struct{ log DecisionLog }

// NewDecisions returns the decision routes over log.
func NewDecisions(log DecisionLog) *Decisions { return &Decisions{log: log} }

// One answers GET /admin/decisions/:requestId with the request's decision,
// or 404 when the log holds none for it.
func (d *Decisions) One(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	dec, ok := d.log.Decision(c.Params("requestId"))
	if !ok {
		return apierror.Write(c, fiber.StatusNotFound, msgNoDecision)
	}
	return c.JSON(dec)
}

// Recent answers GET /admin/decisions with {"decisions": [...]}, the newest
// first: 20, or ?limit= up to 100.
func (d *Decisions) Recent(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	limit := 20
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxRecentDecisions {
			return apierror.Write(c, fiber.StatusBadRequest, msgBadLimit)
		}
		limit = n
	}
	list := d.log.Decisions(limit)
	if list == nil {
		list = []upstream.Decision{}
	}
	return c.JSON(fiber.Map{"decisions": list})
}
