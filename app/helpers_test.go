package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

func mustPrefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// slowUpstream answers every request 200 after delay, so that another
// upstream of the same service is the one the gateway prefers (and the one
// whose death traffic meets first).
func slowUpstream(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // the upstream's service time, not a test wait
		_, _ = io.WriteString(w, "slow")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// preferredDies starts the gateway in front of service "users": a, which
// answers in 5 ms, and b, which answers at once and so is the upstream the
// gateway prefers, the one traffic meets when the test kills b (closing it
// opens its breaker at its first failure; cooldown one minute). One, since
// the failure penalty of the peak EWMA keeps later requests away from b
// after that first failure, before any breaker would have counted more.
func preferredDies(t *testing.T) (gw *gatewaytest.Gateway, a, b *httptest.Server) {
	t.Helper()
	a = slowUpstream(t, 5*time.Millisecond)
	b, _ = echoUpstream(t, "b")
	cfg := gatewaytest.Config(map[string][]string{"users": {a.URL, b.URL}})
	cfg.CBFailureThreshold = 1
	cfg.CBCooldown = time.Minute
	return gatewaytest.Start(t, cfg), a, b
}
