package upstream

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the error, one per problem
	}{
		{"negative durations and counts", Options{DialTimeout: -1, Cooldown: -1, MaxConns: -1, FailureThreshold: -2},
			[]string{"DialTimeout", "Cooldown", "MaxConns", "FailureThreshold"}},
		{"bad URLs, every one named", Options{Services: map[string][]string{
			"a": {"ftp://x", "http://", "localhost:8080"},
			"b": {"http://h/p?q=1", "http://u:p@h", "http://h#f"},
		}}, []string{"ftp://x", `"http://"`, "localhost:8080", "q=1", "u:p@h", "h#f"}},
		{"empty service", Options{Services: map[string][]string{"a": {}}}, []string{`"a" has no upstream`}},
		{"empty name", Options{Services: map[string][]string{"": {"http://h"}}}, []string{"empty service name"}},
		{"duplicate after normalizing", Options{Services: map[string][]string{"a": {"http://h/x", "HTTP://H/x/"}}},
			[]string{"lists http://h/x twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.opts)
			if err == nil {
				p.Close()
				t.Fatal("New succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestUpstreamAddress(t *testing.T) {
	tests := []struct {
		raw, str, basePath, addr string
		tls                      bool
	}{
		{"http://example.com", "http://example.com", "", "example.com:80", false},
		{"https://example.com", "https://example.com", "", "example.com:443", true},
		{"HTTP://Example.COM:8080/v1/", "http://example.com:8080/v1", "/v1", "example.com:8080", false},
		{"http://[::1]:9000/a/b", "http://[::1]:9000/a/b", "/a/b", "[::1]:9000", false},
		{"https://[2001:db8::1]", "https://[2001:db8::1]", "", "[2001:db8::1]:443", true},
		{"http://h/a%2Fb/", "http://h/a%2Fb", "/a%2Fb", "h:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			p, _ := testPool(t, Options{Services: map[string][]string{"s": {tt.raw}}})
			u := p.Service("s").Upstreams()[0]
			if u.String() != tt.str || u.URL().String() != tt.str {
				t.Errorf("String() = %q, URL() = %q, want %q", u, u.URL(), tt.str)
			}
			if u.BasePath() != tt.basePath {
				t.Errorf("BasePath() = %q, want %q", u.BasePath(), tt.basePath)
			}
			for _, c := range []struct {
				name string
				addr string
				tls  bool
			}{{"Client", u.Client().Addr, u.Client().IsTLS}, {"StreamClient", u.StreamClient().Addr, u.StreamClient().IsTLS}} {
				if c.addr != tt.addr || c.tls != tt.tls {
					t.Errorf("%s: Addr, IsTLS = %q, %v, want %q, %v", c.name, c.addr, c.tls, tt.addr, tt.tls)
				}
			}
			if u.Service() != "s" {
				t.Errorf("Service() = %q", u.Service())
			}
		})
	}
}

func TestHostClientSettings(t *testing.T) {
	p, _ := testPool(t, Options{Services: map[string][]string{"s": urls(1)}, ProxyTimeout: 7 * time.Second, MaxConns: 33})
	u := p.Service("s").ups[0]
	c, s := u.Client(), u.StreamClient()
	if c == s {
		t.Fatal("StreamClient is the ordinary client")
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"Name", c.Name, ""},
		{"NoDefaultUserAgentHeader", c.NoDefaultUserAgentHeader, true},
		{"MaxConns", c.MaxConns, 33},
		{"ReadTimeout", c.ReadTimeout, 7 * time.Second},
		{"WriteTimeout", c.WriteTimeout, 7 * time.Second},
		{"MaxIdleConnDuration", c.MaxIdleConnDuration, 90 * time.Second},
		{"MaxIdemponentCallAttempts", c.MaxIdemponentCallAttempts, 1},
		{"StreamResponseBody", c.StreamResponseBody, true},
		{"DisableHeaderNamesNormalizing", c.DisableHeaderNamesNormalizing, true},
		{"DisablePathNormalizing", c.DisablePathNormalizing, true},
		{"ReadBufferSize", c.ReadBufferSize, 4096},
		{"WriteBufferSize", c.WriteBufferSize, 4096},
		{"Dial set", c.Dial != nil, true},
		{"RetryIfErr set", c.RetryIfErr != nil, true},
		{"stream ReadTimeout", s.ReadTimeout, time.Duration(0)},
		{"stream WriteTimeout", s.WriteTimeout, 7 * time.Second},
		{"stream StreamResponseBody", s.StreamResponseBody, true},
		{"stream MaxConns", s.MaxConns, 1 << 16},
		{"stream MaxIdemponentCallAttempts", s.MaxIdemponentCallAttempts, 1},
		{"stream NoDefaultUserAgentHeader", s.NoDefaultUserAgentHeader, true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if reset, retry := c.RetryIfErr(nil, 1, errors.New("x")); reset || retry {
		t.Errorf("RetryIfErr = %v, %v, want false, false", reset, retry)
	}
}

func TestServiceLookup(t *testing.T) {
	p, _ := testPool(t, Options{Services: map[string][]string{"b": urls(2), "a": urls(1), "c": urls(3)}})
	if p.Service("nope") != nil {
		t.Error("Service(unknown) != nil")
	}
	var names []string
	for _, s := range p.Services() {
		names = append(names, s.Name()+":"+string(rune('0'+len(s.Upstreams()))))
	}
	if got := strings.Join(names, ","); got != "a:1,b:2,c:3" {
		t.Errorf("Services() = %s, want a:1,b:2,c:3", got)
	}
	p.Services()[0] = nil // a copy: must not corrupt the pool
	if p.Services()[0] == nil {
		t.Error("Services() returned the pool's own slice")
	}
}

func TestReplace(t *testing.T) {
	p, _ := testPool(t, Options{Services: map[string][]string{
		"a": {"http://a1", "http://a2"},
		"b": {"http://b1"},
	}})
	oldA := p.Service("a")
	a1, a2 := oldA.ups[0], oldA.ups[1]
	b1 := p.Service("b").ups[0]
	l := mustPick(t, p, "a", a2) // a1, still in flight across the reload
	l.Upstream().CountRetry()

	err := p.Replace(map[string][]string{
		"a": {"http://a3", "http://a1/"}, // a1 kept (same URL once normalized), a2 removed
		"c": {"http://b1"},               // same URL, other service: a new upstream
	})
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	newA := p.Service("a")
	if newA == oldA {
		t.Error("Replace kept the old *Service")
	}
	if got := newA.Upstreams(); len(got) != 2 || got[1] != a1 || got[0] == a1 {
		t.Fatalf("new a = %v, want [a3 a1] with a1 the same *Upstream", got)
	}
	if a1.Inflight() != 1 || a1.retries.Load() != 1 || a1.requests.Load() != 1 {
		t.Errorf("a1 lost its stats: inflight %d, retries %d", a1.Inflight(), a1.retries.Load())
	}
	if p.Service("b") != nil {
		t.Error("service b still present")
	}
	if c := p.Service("c").ups[0]; c == b1 || c.Service() != "c" {
		t.Error("service c reused b's upstream")
	}
	for _, tt := range []struct {
		u    *Upstream
		want bool
	}{{a1, false}, {a2, true}, {b1, true}} {
		if got := tt.u.retired.Load(); got != tt.want {
			t.Errorf("%s retired = %v, want %v", tt.u, got, tt.want)
		}
	}
	l.Done(status(200)) // the lease from the old table ends normally
	if a1.Inflight() != 0 || a1.successes.Load() != 1 {
		t.Errorf("a1 after Done: inflight %d, successes %d", a1.Inflight(), a1.successes.Load())
	}
	if _, err := oldA.Pick(nil); err != nil {
		t.Errorf("Pick on a Service from before the reload: %v", err)
	}
}

func TestReplaceErrors(t *testing.T) {
	p, _ := testPool(t, Options{Services: map[string][]string{"a": urls(1)}})
	before := p.Service("a")
	if err := p.Replace(map[string][]string{"a": {"nope://x"}}); err == nil {
		t.Fatal("Replace with a bad URL succeeded")
	}
	if p.Service("a") != before || before.ups[0].retired.Load() {
		t.Error("failed Replace changed the table")
	}
	p.Close()
	if !before.ups[0].retired.Load() {
		t.Error("Close did not retire the upstreams")
	}
	if err := p.Replace(map[string][]string{"a": urls(1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Replace after Close = %v, want ErrClosed", err)
	}
	p.Close() // idempotent
}
