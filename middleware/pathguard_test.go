package middleware

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafePath(t *testing.T) {
	tests := []struct {
		path string
		safe bool
	}{
		{"/api/users/v1/me", true},
		{"/", true},
		{"", true},
		{"/api/users/...", true},
		{"/api/users/.well-known/x", true},
		{"/api/users/a..b", true},
		{"/api/users/a;b=1", true},
		{"/api/users//x", true},
		{"/api/users/../admin", false},
		{"/api/users/./x", false},
		{"/..", false},
		{"/.", false},
		{"/api/%2e%2e/x", false},
		{"/api/%2E%2e/x", false},
		{"/api/.%2e/x", false},
		{"/api/%2e./x", false},
		{"/api/..;/x", false},
		{"/api/a%2fb", false},
		{"/api/a%2Fb", false},
		{"/api/a%5cb", false},
		{"/api/a%5Cb", false},
		{"/api/a\\b", false},
	}
	for _, tt := range tests {
		if got := SafePath([]byte(tt.path)); got != tt.safe {
			t.Errorf("SafePath(%q) = %v, want %v", tt.path, got, tt.safe)
		}
	}
}

func TestRawPath(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"/a/b?x=1", "/a/b"},
		{"/a/b#f", "/a/b"},
		{"http://h:1/a/../b?q", "/a/../b"},
		{"http://h", ""},
		{"*", "*"},
	}
	for _, tt := range tests {
		if got := string(rawPath([]byte(tt.uri))); got != tt.want {
			t.Errorf("rawPath(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

// FuzzSafePath checks the guard's promise: a path it passes, once
// percent-decoded, holds no "." or ".." segment (path parameters aside)
// and no backslash.
func FuzzSafePath(f *testing.F) {
	for _, s := range []string{"/a/b", "/a/../b", "/%2e%2e/", "/a%2fb", "/..;/x", "/%252e%252e/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !SafePath([]byte(p)) {
			return
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			return // not decodable: an upstream cannot read it as a traversal either
		}
		if strings.ContainsRune(dec, '\\') {
			t.Fatalf("SafePath(%q) passed a backslash (decoded %q)", p, dec)
		}
		for _, seg := range strings.Split(dec, "/") {
			if i := strings.IndexByte(seg, ';'); i >= 0 {
				seg = seg[:i]
			}
			if seg == "." || seg == ".." {
				t.Fatalf("SafePath(%q) passed a dot segment (decoded %q)", p, dec)
			}
		}
	})
}
