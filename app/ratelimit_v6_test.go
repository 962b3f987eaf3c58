package app_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"gateway/app"
	"gateway/internal/gatewaytest"
)

// IPv6 clients share one rate-limit budget per /64 (RATE_LIMIT_IPV6_PREFIX
// default), through the real gateway listening on [::1]: the peer is ::1,
// a trusted proxy, and X-Forwarded-For names clients in two /64s.
func TestRateLimitIPv6PerPrefix(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"users": {up.URL}})
	cfg.RateLimitMax = 1
	cfg.RateLimitWindow = time.Minute
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("::1/128")}
	gw, err := app.New(cfg, app.Options{Logger: gatewaytest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		<-served
	})
	base := "http://" + ln.Addr().String()
	for i, c := range []struct {
		xff  string
		want int
	}{
		{"2001:db8:1:2::1", 200},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 429}, // same /64
		{"2001:db8:1:3::1", 200},                  // next /64
		{"", 200},                                 // ::1 itself
		{"::2", 429},                              // ::1's /64
	} {
		req, _ := http.NewRequest("GET", base+"/api/users/x", nil)
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("request %d from %q: status %d, want %d", i, c.xff, resp.StatusCode, c.want)
		}
	}
}
