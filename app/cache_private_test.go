package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"gateway/internal/gatewaytest"
)

// perKeyUpstream answers each caller by the credential it presents, as an
// API keyed by X-Api-Key (or a custom tenant header, or Proxy-Authorization
// relayed by nothing) does, and marks every answer cacheable for everyone:
// the upstream's mistake a shared cache must not turn into a leak. It counts
// the requests it sees.
func perKeyUpstream(t *testing.T, seen *atomic.Int64) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		who := "anonymous"
		for _, h := range []string{"X-Api-Key", "X-Tenant", "Authorization", "Cookie"} {
			if v := r.Header.Get(h); v != "" {
				who = h + "=" + v
			}
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		_, _ = io.WriteString(w, "account of "+who)
	}))
	t.Cleanup(up.Close)
	return up
}

// privateGet asks the gateway for path with the given header lines and
// returns X-Cache and the body.
func privateGet(t *testing.T, addr, path string, lines ...string) (xcache, body string) {
	t.Helper()
	st, _, xc, b := rawGet(t, addr, path, addr, lines...)
	if st != http.StatusOK {
		t.Fatalf("GET %s with %q: status %d, body %q", path, lines, st, b)
	}
	return xc, b
}

// Alice (X-Api-Key a), Bob (X-Api-Key b) and an anonymous client ask for the
// same URL, whose answers the upstream marks public: each gets its own
// answer, every time. Requests carrying a key bypass the shared cache; the
// anonymous one is still cached.
func TestCachePrivateHeadersKeepAnswersApart(t *testing.T) {
	var seen atomic.Int64
	up := perKeyUpstream(t, &seen)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	gw := gatewaytest.Start(t, cfg)

	clients := []struct {
		name, line, want string
	}{
		{"alice", "X-Api-Key: a\r\n", "account of X-Api-Key=a"},
		{"bob", "X-Api-Key: b\r\n", "account of X-Api-Key=b"},
		{"anonymous", "", "account of anonymous"},
		{"bearer", "Authorization: Bearer t\r\n", "account of Authorization=Bearer t"},
		{"cookie", "Cookie: s=1\r\n", "account of Cookie=s=1"},
	}
	for round := 0; round < 2; round++ {
		for _, c := range clients {
			var lines []string
			if c.line != "" {
				lines = append(lines, c.line)
			}
			xc, body := privateGet(t, gw.Addr, "/api/s/me", lines...)
			if body != c.want {
				t.Fatalf("round %d: %s got %q (X-Cache %s), want %q", round, c.name, body, xc, c.want)
			}
			wantXC := "BYPASS"
			if c.line == "" {
				wantXC = map[int]string{0: "MISS", 1: "HIT"}[round]
			}
			if xc != wantXC {
				t.Errorf("round %d: %s X-Cache %q, want %q", round, c.name, xc, wantXC)
			}
		}
	}
	// Only the anonymous client's second request was a cache hit.
	if got, want := seen.Load(), int64(2*len(clients)-1); got != want {
		t.Fatalf("upstream saw %d requests, want %d", got, want)
	}
}

// CACHE_PRIVATE_HEADERS replaces the default list: a tenant header named in
// it makes requests private, and Authorization, left out, no longer does.
func TestCachePrivateHeadersFromConfig(t *testing.T) {
	var seen atomic.Int64
	up := perKeyUpstream(t, &seen)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	cfg.CachePrivateHeaders = []string{"X-Tenant"}
	gw := gatewaytest.Start(t, cfg)

	for _, tenant := range []string{"t1", "t2", "t1"} {
		xc, body := privateGet(t, gw.Addr, "/api/s/tenant", "X-Tenant: "+tenant+"\r\n")
		if want := "account of X-Tenant=" + tenant; body != want || xc != "BYPASS" {
			t.Fatalf("tenant %s: %q X-Cache %s, want %q BYPASS", tenant, body, xc, want)
		}
	}
	// Authorization is no longer in the list, so its answer is shared.
	for _, want := range []string{"MISS", "HIT"} {
		xc, body := privateGet(t, gw.Addr, "/api/s/auth", "Authorization: Bearer t\r\n")
		if !strings.HasPrefix(body, "account of Authorization") || xc != want {
			t.Fatalf("Authorization not listed: %q X-Cache %s, want X-Cache %s", body, xc, want)
		}
	}
}
