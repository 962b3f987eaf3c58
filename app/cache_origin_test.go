package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gateway/internal/gatewaytest"
)

// originUpstream answers as applications behind proxies do: a page naming
// the host it was asked for (from X-Forwarded-Host and -Proto), and at
// /moved a permanent redirect to that host, both cacheable for everyone.
func originUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("X-Forwarded-Proto") + "://" + r.Header.Get("X-Forwarded-Host")
		w.Header().Set("Cache-Control", "public, max-age=600")
		if r.URL.Path == "/moved" {
			w.Header().Set("Location", origin+"/new")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		_, _ = io.WriteString(w, "home of "+origin)
	}))
	t.Cleanup(up.Close)
	return up
}

// rawGet sends a GET for path with the given extra header lines over a raw
// connection, so the Host field is exactly what the test says.
func rawGet(t *testing.T, addr, path, host string, lines ...string) (status int, location, xcache, body string) {
	t.Helper()
	raw := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Join(lines, "") + "Connection: close\r\n\r\n"
	resp := rawRequest(t, addr, raw)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("X-Cache"), string(b)
}

// A client asking for another Host (or, through a trusted proxy, another
// X-Forwarded-Host or -Proto) gets its own cache entry: it can neither fill
// the entry every other client gets with a page or redirect built for its
// host, nor be served one built for another's.
func TestCacheKeyHoldsTheOrigin(t *testing.T) {
	up := originUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	gw := gatewaytest.Start(t, cfg)
	own := gw.Addr

	for _, path := range []string{"/api/s/home", "/api/s/moved"} {
		t.Run(path, func(t *testing.T) {
			// The attacker goes first, and is answered for its own host.
			st, loc, _, body := rawGet(t, gw.Addr, path, "evil.example")
			if !strings.Contains(body+loc, "http://evil.example") {
				t.Fatalf("attacker's answer %d %q %q does not name its host", st, loc, body)
			}
			for i, want := range []string{"MISS", "HIT"} {
				st, loc, xc, body := rawGet(t, gw.Addr, path, own)
				got := body + loc
				if strings.Contains(got, "evil.example") {
					t.Fatalf("request %d for host %s was served the attacker's entry: %d %q %q (X-Cache %s)", i, own, st, loc, body, xc)
				}
				if !strings.Contains(got, "http://"+own) || xc != want {
					t.Fatalf("request %d: %d %q %q X-Cache %q; want an answer for http://%s, X-Cache %s", i, st, loc, body, xc, own, want)
				}
			}
		})
	}
}

// Behind a trusted proxy the forwarded host and scheme it relays are what
// the upstream sees, so they key the entry too.
func TestCacheKeyHoldsTrustedForwardedValues(t *testing.T) {
	up := originUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	cfg.TrustedProxies = mustPrefixes(t, "127.0.0.0/8")
	gw := gatewaytest.Start(t, cfg)

	variants := []struct{ lines []string }{
		{[]string{"X-Forwarded-Host: public.example\r\n", "X-Forwarded-Proto: https\r\n"}},
		{[]string{"X-Forwarded-Host: evil.example\r\n", "X-Forwarded-Proto: https\r\n"}},
		{[]string{"X-Forwarded-Host: public.example\r\n", "X-Forwarded-Proto: http\r\n"}},
	}
	for round := 0; round < 2; round++ {
		for _, v := range variants {
			host := strings.TrimSpace(strings.TrimPrefix(v.lines[0], "X-Forwarded-Host:"))
			proto := strings.TrimSpace(strings.TrimPrefix(v.lines[1], "X-Forwarded-Proto:"))
			_, loc, xc, _ := rawGet(t, gw.Addr, "/api/s/moved", "gw", v.lines...)
			if want := fmt.Sprintf("%s://%s/new", proto, host); loc != want {
				t.Fatalf("round %d: Location %q (X-Cache %s), want %q", round, loc, xc, want)
			}
		}
	}
}
