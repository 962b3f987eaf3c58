package middleware

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// withCtx runs f on a Fiber context for a GET of uri from peer with headers
// (name, value pairs; a name may repeat).
func withCtx(t testing.TB, peer string, uri string, headers []string, f func(c *fiber.Ctx)) {
	t.Helper()
	app := fiber.New()
	var req fasthttp.Request
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	var fctx fasthttp.RequestCtx
	fctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(peer), Port: 4321}, nil)
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	f(c)
}

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestClientIP(t *testing.T) {
	lb := []string{"10.0.0.0/8"}
	tests := []struct {
		name    string
		peer    string
		trusted []string
		xff     []string // one entry per header line
		want    string
	}{
		{"no trusted proxies: peer", "203.0.113.7", nil, []string{"1.1.1.1"}, "203.0.113.7"},
		{"untrusted peer: xff ignored", "203.0.113.7", lb, []string{"1.1.1.1"}, "203.0.113.7"},
		{"trusted peer without xff", "10.0.0.2", lb, nil, "10.0.0.2"},
		{"trusted peer: last xff", "10.0.0.2", lb, []string{"198.51.100.1"}, "198.51.100.1"},
		{"rightmost untrusted wins over spoofed left", "10.0.0.2", lb, []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"skips trusted hops", "10.0.0.2", lb, []string{"6.6.6.6, 198.51.100.1, 10.1.1.1, 10.2.2.2"}, "198.51.100.1"},
		{"several header lines in order", "10.0.0.2", lb, []string{"6.6.6.6, 198.51.100.1", "10.1.1.1"}, "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.2", lb, []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9"},
		{"garbage stops at last trusted", "10.0.0.2", lb, []string{"6.6.6.6, nonsense, 10.1.1.1"}, "10.1.1.1"},
		{"garbage right after peer", "10.0.0.2", lb, []string{"nonsense"}, "10.0.0.2"},
		{"empty entries skipped", "10.0.0.2", lb, []string{"198.51.100.1, ,"}, "198.51.100.1"},
		{"port accepted", "10.0.0.2", lb, []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"ipv6 with port", "10.0.0.2", lb, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"ipv6", "10.0.0.2", lb, []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped ipv4 unmapped", "10.0.0.2", lb, []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"zone refused", "10.0.0.2", lb, []string{"fe80::1%eth0"}, "10.0.0.2"},
		{"mapped peer unmapped", "::ffff:10.0.0.2", lb, []string{"198.51.100.9"}, "198.51.100.9"},
		{"ipv6 trusted prefix", "2001:db8::5", []string{"2001:db8::/64"}, []string{"198.51.100.3"}, "198.51.100.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hs []string
			for _, v := range tt.xff {
				hs = append(hs, fiber.HeaderXForwardedFor, v)
			}
			withCtx(t, tt.peer, "/api/x", hs, func(c *fiber.Ctx) {
				got := ClientIP(c, prefixes(t, tt.trusted...))
				if got != netip.MustParseAddr(tt.want) {
					t.Fatalf("ClientIP = %v, want %v", got, tt.want)
				}
			})
		})
	}
}

func TestClientIPAllocs(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8")
	withCtx(t, "10.0.0.2", "/", []string{fiber.HeaderXForwardedFor, "6.6.6.6, 2001:db8::1, 10.1.1.1"}, func(c *fiber.Ctx) {
		ClientIP(c, trusted) // warm fasthttp's header buffers
		if n := testing.AllocsPerRun(100, func() { ClientIP(c, trusted) }); n != 0 {
			t.Fatalf("ClientIP allocates %v times per call, want 0", n)
		}
	})
}

func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "a, b,, 10.0.0.1", "[::1]:80, 1.1.1.1", "fe80::1%z"} {
		f.Add(s)
	}
	trusted := prefixes(f, "10.0.0.0/8")
	peer := netip.MustParseAddr("10.0.0.2")
	f.Fuzz(func(t *testing.T, xff string) {
		got := forwardedClient([][]byte{[]byte(xff)}, peer, trusted)
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("forwardedClient(%q) = %v", xff, got)
		}
	})
}
