package upstream

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaks a goroutine. fasthttp's
// idle-connection cleaner is not ours: it sleeps MaxIdleConnDuration (90s)
// before noticing that its client has no connection left.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
}
