package middleware

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want cacheDirectives
	}{
		{"empty", "", cacheDirectives{maxAge: -1, sMaxAge: -1}},
		{"max-age", "max-age=60", cacheDirectives{maxAge: 60 * time.Second, sMaxAge: -1}},
		{"both ages", "public, max-age=60, s-maxage=30", cacheDirectives{maxAge: 60 * time.Second, sMaxAge: 30 * time.Second}},
		{"case and spaces", " Max-Age = 5 ,NO-STORE", cacheDirectives{maxAge: 5 * time.Second, sMaxAge: -1, noStore: true}},
		{"quoted", `max-age="7"`, cacheDirectives{maxAge: 7 * time.Second, sMaxAge: -1}},
		{"bad max-age is stale", "max-age=abc", cacheDirectives{maxAge: 0, sMaxAge: -1}},
		{"negative max-age is stale", "max-age=-1", cacheDirectives{maxAge: 0, sMaxAge: -1}},
		{"huge max-age capped", "max-age=99999999999999999999", cacheDirectives{maxAge: maxDeltaSeconds * time.Second, sMaxAge: -1}},
		{"no-cache with fields", `no-cache="Set-Cookie"`, cacheDirectives{maxAge: -1, sMaxAge: -1, noCache: true}},
		{"private", "private, max-age=9", cacheDirectives{maxAge: 9 * time.Second, sMaxAge: -1, private: true}},
		{"rfc 5861", "max-age=1, stale-while-revalidate=30, stale-if-error=600",
			cacheDirectives{maxAge: time.Second, sMaxAge: -1, staleWhileRevalidate: 30 * time.Second, staleIfError: 600 * time.Second}},
		{"must-revalidate", "must-revalidate", cacheDirectives{maxAge: -1, sMaxAge: -1, mustRevalidate: true}},
		{"proxy-revalidate", "proxy-revalidate", cacheDirectives{maxAge: -1, sMaxAge: -1, mustRevalidate: true}},
		{"unknown ignored", "immutable, foo=bar,,", cacheDirectives{maxAge: -1, sMaxAge: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cacheDirectives{maxAge: -1, sMaxAge: -1}
			parseCacheControl(&got, []byte(tt.in))
			if got != tt.want {
				t.Fatalf("parseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestResponseDirectivesMustRevalidateDropsStale(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.Add("Cache-Control", "max-age=5, stale-if-error=60")
	h.Add("Cache-Control", "stale-while-revalidate=9, must-revalidate")
	d := responseDirectives(&h)
	if d.maxAge != 5*time.Second || d.staleIfError != 0 || d.staleWhileRevalidate != 0 {
		t.Fatalf("got %+v, want max-age 5s and no stale windows", d)
	}
}

func TestRequestCacheMode(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		want   requestMode
	}{
		{"plain", nil, reqLookup},
		{"max-age>0", []string{"Cache-Control", "max-age=10"}, reqLookup},
		{"no-cache", []string{"Cache-Control", "no-cache"}, reqRefresh},
		{"max-age=0", []string{"Cache-Control", "max-age=0"}, reqRefresh},
		{"no-store", []string{"Cache-Control", "no-cache, no-store"}, reqNoStore},
		{"pragma", []string{"Pragma", "no-cache"}, reqRefresh},
		{"cache-control wins over pragma", []string{"Pragma", "no-cache", "Cache-Control", "max-age=5"}, reqLookup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for i := 0; i < len(tt.header); i += 2 {
				h.Add(tt.header[i], tt.header[i+1])
			}
			if got := requestCacheMode(&h); got != tt.want {
				t.Fatalf("requestCacheMode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFreshnessLifetime(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	const def = 42 * time.Second
	tests := []struct {
		name   string
		header []string
		want   time.Duration
	}{
		{"default", nil, def},
		{"s-maxage beats max-age", []string{"Cache-Control", "max-age=100, s-maxage=5"}, 5 * time.Second},
		{"max-age beats Expires", []string{"Cache-Control", "max-age=100", "Expires", date(now.Add(time.Hour))}, 100 * time.Second},
		{"Expires minus Date", []string{"Expires", date(now.Add(time.Hour)), "Date", date(now.Add(-time.Minute))}, time.Hour + time.Minute},
		{"Expires minus now", []string{"Expires", date(now.Add(time.Hour))}, time.Hour},
		{"Expires past", []string{"Expires", date(now.Add(-time.Hour))}, 0},
		{"Expires invalid", []string{"Expires", "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Parsed from the wire, as the proxy's client does: fasthttp
			// drops a Date set by hand, but keeps an upstream's.
			raw := "HTTP/1.1 200 OK\r\n"
			for i := 0; i < len(tt.header); i += 2 {
				raw += tt.header[i] + ": " + tt.header[i+1] + "\r\n"
			}
			var h fasthttp.ResponseHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(raw + "\r\n"))); err != nil {
				t.Fatal(err)
			}
			d := responseDirectives(&h)
			if got := freshnessLifetime(&d, &h, now, def); got != tt.want {
				t.Fatalf("freshnessLifetime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCacheableStatus(t *testing.T) {
	for s := 100; s < 600; s++ {
		want := s == 200 || s == 203 || s == 204 || s == 300 || s == 301 || s == 404 || s == 410
		if got := cacheableStatus(s); got != want {
			t.Errorf("cacheableStatus(%d) = %v, want %v", s, got, want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a,b"`, "s-maxage=1, stale-if-error=2", "=,=,", "max-age=\"", "private=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := cacheDirectives{maxAge: -1, sMaxAge: -1}
		parseCacheControl(&d, []byte(s))
		if d.maxAge < -1 || d.sMaxAge < -1 || d.staleIfError < 0 || d.staleWhileRevalidate < 0 {
			t.Fatalf("negative duration from %q: %+v", s, d)
		}
		if d.maxAge > maxDeltaSeconds*time.Second || d.sMaxAge > maxDeltaSeconds*time.Second {
			t.Fatalf("uncapped duration from %q: %+v", s, d)
		}
	})
}
