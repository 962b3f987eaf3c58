package app

import (
	"github.com/gofiber/fiber/v2"

	"gateway/internal/logbuf"
)

// LogBuffer is the tests' goroutine-safe log sink, under the name the
// package's internal and external tests use.
type LogBuffer = logbuf.Buffer

// HandleForTest adds a GET route to a's Fiber app behind the global
// middleware, for tests that need a handler the gateway does not have (one
// that panics). Call it before Listener.
func (a *App) HandleForTest(path string, h fiber.Handler) { a.fiber.Get(path, h) }
