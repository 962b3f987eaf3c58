package config

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestParseScalars(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) (any, error)
		in    string
		want  any // nil = error expected
	}{
		{"bool true", wrap(parseBool), "true", true},
		{"bool YES", wrap(parseBool), "YES", true},
		{"bool 1", wrap(parseBool), "1", true},
		{"bool no", wrap(parseBool), "no", false},
		{"bool 0", wrap(parseBool), "0", false},
		{"bool False", wrap(parseBool), "False", false},
		{"bool on", wrap(parseBool), "on", nil},
		{"int", wrap(parseInt[int]), "42", 42},
		{"int negative", wrap(parseInt[int]), "-3", -3},
		{"int word", wrap(parseInt[int]), "abc", nil},
		{"int float", wrap(parseInt[int]), "1.5", nil},
		{"int overflow", wrap(parseInt[int64]), "9223372036854775808", nil},
		{"int64", wrap(parseInt[int64]), "67108864", int64(67108864)},
		{"uint", wrap(parseUint), "18446744073709551615", uint64(18446744073709551615)},
		{"uint negative", wrap(parseUint), "-1", nil},
		{"ms", wrap(parseMillis), "1500", 1500 * time.Millisecond},
		{"ms zero", wrap(parseMillis), "0", time.Duration(0)},
		{"ms negative", wrap(parseMillis), "-1", nil},
		{"ms with unit", wrap(parseMillis), "10s", nil},
		{"ms overflow", wrap(parseMillis), "9223372036854776", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			switch {
			case tc.want == nil && err == nil:
				t.Errorf("parse(%q) = %v, want an error", tc.in, got)
			case tc.want != nil && (err != nil || got != tc.want):
				t.Errorf("parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func wrap[T any](f func(string) (T, error)) func(string) (any, error) {
	return func(s string) (any, error) { return f(s) }
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{" 10.0.0.0/8 , 192.168.1.7 ,", []string{"10.0.0.0/8", "192.168.1.7/32"}, false},
		{"::1", []string{"::1/128"}, false},
		{"::ffff:10.1.2.3", []string{"10.1.2.3/32"}, false},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, false},
		{"fd00::/8", []string{"fd00::/8"}, false},
		{"10.0.0.0/33", nil, true},
		{"localhost", nil, true},
		{"fe80::1%eth0", nil, true},
		{"10.0.0.1, bogus", nil, true},
	}
	for _, tc := range tests {
		got, err := parsePrefixes(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parsePrefixes(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		var want []netip.Prefix
		for _, s := range tc.want {
			want = append(want, netip.MustParsePrefix(s))
		}
		if !slices.Equal(got, want) {
			t.Errorf("parsePrefixes(%q) = %v, want %v", tc.in, got, want)
		}
	}
}

func TestParseStatusRanges(t *testing.T) {
	tests := []struct {
		in      string
		want    []StatusRange
		wantErr bool
	}{
		{"500-599", []StatusRange{{500, 599}}, false},
		{"502, 503,504", []StatusRange{{502, 502}, {503, 503}, {504, 504}}, false},
		{"429,500-599", []StatusRange{{429, 429}, {500, 599}}, false},
		{"100-599", []StatusRange{{100, 599}}, false},
		{",", nil, true},
		{"600", nil, true},
		{"99", nil, true},
		{"599-500", nil, true},
		{"5xx", nil, true},
		{"500-", nil, true},
		{"-500", nil, true},
		{"500-550-599", nil, true},
	}
	for _, tc := range tests {
		got, err := parseStatusRanges(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("parseStatusRanges(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCheckRateLimitKey(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"ip", true},
		{"sub", true},
		{"header:X-Api-Key", true},
		{"header:x_tenant", true},
		{"header:", false},
		{"header:X Key", false},
		{"header:X:Y", false},
		{"IP", false},
		{"cookie:session", false},
		{"", false},
	}
	for _, tc := range tests {
		if err := checkRateLimitKey(tc.in); (err == nil) != tc.ok {
			t.Errorf("checkRateLimitKey(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func TestCheckRedisURL(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"redis://localhost:6379", true},
		{"redis://localhost:6379/0", true},
		{"rediss://user:pw@cache.internal:6380/3", true},
		{"redis://localhost/", true},
		{"http://localhost:6379", false},
		{"localhost:6379", false},
		{"redis://", false},
		{"redis://localhost/db", false},
		{"redis://bad host:1", false},
		{"unix:///tmp/redis.sock", false},
	}
	for _, tc := range tests {
		if err := checkRedisURL(tc.in); (err == nil) != tc.ok {
			t.Errorf("checkRedisURL(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func TestCheckRedisURLHidesPassword(t *testing.T) {
	for _, in := range []string{"http://u:pa55word@h", "redis://u:pa55word@h/x", "redis://u:pa55word@bad host"} {
		if err := checkRedisURL(in); err == nil || contains(err.Error(), "pa55word") {
			t.Errorf("checkRedisURL(%q) = %v; want an error without the password", in, err)
		}
	}
}
