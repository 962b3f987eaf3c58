package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseUpstreams(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string][]string
		errs []string // substrings, one per expected problem
	}{
		{"two services",
			`{"users":["http://127.0.0.1:9001","http://127.0.0.1:9002"],"billing":["https://billing.internal"]}`,
			map[string][]string{"users": {"http://127.0.0.1:9001", "http://127.0.0.1:9002"}, "billing": {"https://billing.internal"}}, nil},
		{"trailing slash and base path",
			`{"a":["http://h/","http://h2/api/v1/","HTTP://[::1]:8080"]}`,
			map[string][]string{"a": {"http://h", "http://h2/api/v1", "http://[::1]:8080"}}, nil},
		{"whitespace around JSON", " {\n \"a\" : [ \"http://h\" ] }\n ", map[string][]string{"a": {"http://h"}}, nil},
		{"name rules", `{"a_b-1":["http://h"],"9":["http://h"]}`, map[string][]string{"a_b-1": {"http://h"}, "9": {"http://h"}}, nil},
		{"ftp", `{"billing":["ftp://x"]}`, nil, []string{`service "billing": "ftp://x" is not an http(s) URL`}},
		{"not JSON", `users=http://h`, nil, []string{"must be a JSON object"}},
		{"array", `["http://h"]`, nil, []string{"must be a JSON object"}},
		{"empty object", `{}`, nil, []string{"names no services"}},
		{"string not array", `{"a":"http://h"}`, nil, []string{`service "a": must be an array of URL strings`}},
		{"number in array", `{"a":["http://h",1]}`, nil, []string{`service "a": must be an array`}},
		{"null", `{"a":null}`, nil, []string{`service "a": lists no URLs`}},
		{"empty array", `{"a":[]}`, nil, []string{`service "a": lists no URLs`}},
		{"bad names", `{"Users":["http://h"],"-x":["http://h"],"a.b":["http://h"],"":["http://h"]}`, nil,
			[]string{`"Users": name must`, `"-x": name must`, `"a.b": name must`, `"": name must`}},
		{"duplicate service", `{"a":["http://h"],"a":["http://i"]}`, nil, []string{`service "a" is listed twice`}},
		{"duplicate URL", `{"a":["http://h/","http://h"]}`, nil, []string{`"http://h" is listed twice`}},
		{"relative", `{"a":["/api"]}`, nil, []string{"is not an http(s) URL"}},
		{"no host", `{"a":["http:///x"]}`, nil, []string{"has no host"}},
		{"opaque", `{"a":["http:h"]}`, nil, []string{"has no host"}},
		{"port only", `{"a":["http://:80"]}`, nil, []string{"has no host"}},
		{"query", `{"a":["http://h/?x=1"]}`, nil, []string{"must not have a query"}},
		{"empty query", `{"a":["http://h/?"]}`, nil, []string{"must not have a query"}},
		{"fragment", `{"a":["http://h#f"]}`, nil, []string{"must not have a fragment"}},
		{"userinfo", `{"a":["http://u:secretpw@h"]}`, nil, []string{"must not contain userinfo"}},
		{"bad port", `{"a":["http://h:99999"]}`, nil, []string{"has a bad port"}},
		{"empty port", `{"a":["http://h:"]}`, nil, []string{"has a bad port"}},
		{"space in host", `{"a":["http://a b"]}`, nil, []string{"is not a URL"}},
		{"every problem reported", `{"a":["ftp://x","http://h?q"],"B":["http://h"]}`, nil,
			[]string{`"B": name must`, `"a": "ftp://x"`, `"a": "http://h?q"`}},
		{"trailing data", `{"a":["http://h"]} {}`, nil, []string{"data after the JSON object"}},
		{"truncated", `{"a":["http://h"]`, nil, []string{"not valid JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, msgs := parseUpstreams(tc.in)
			if !maps.EqualFunc(got, tc.want, slices.Equal) || (got == nil) != (tc.want == nil) {
				t.Errorf("map = %v, want %v", got, tc.want)
			}
			if len(msgs) != len(tc.errs) {
				t.Fatalf("problems = %q, want %d like %q", msgs, len(tc.errs), tc.errs)
			}
			for _, want := range tc.errs {
				if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, want) }) {
					t.Errorf("problems %q lack %q", msgs, want)
				}
			}
			if strings.Contains(strings.Join(msgs, "\n"), "secretpw") {
				t.Errorf("problems %q show a password", msgs)
			}
		})
	}
}

func FuzzParseUpstreams(f *testing.F) {
	for _, seed := range []string{
		`{"users":["http://127.0.0.1:9001","http://127.0.0.1:9002"]}`,
		`{"a":["https://h/base/","http://[::1]:80"]}`,
		`{"a":["http://h/%2F/"]}`,
		`{"a":"x"}`, `{}`, `[]`, `null`, ``, `{"a":["http://u:p@h?#"]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, msgs := parseUpstreams(in)
		if len(msgs) > 0 {
			if m != nil {
				t.Fatalf("problems %q with a non-nil map", msgs)
			}
			return
		}
		if len(m) == 0 {
			t.Fatal("no problems but no services")
		}
		for name, urls := range m {
			if !validServiceName(name) || len(urls) == 0 {
				t.Fatalf("accepted service %q with %d URLs", name, len(urls))
			}
			for _, u := range urls {
				again, err := normalizeURL(u)
				if err != nil || again != u {
					t.Fatalf("normalised %q does not normalise to itself: %q, %v", u, again, err)
				}
			}
		}
		if msgs := checkUpstreams(m); len(msgs) > 0 {
			t.Fatalf("parsed map fails its own check: %q", msgs)
		}
	})
}
