package handlers

import (
	"net/url"
	"strings"
	"testing"
)

func TestValidWSPath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/chat", true},
		{"/chat/room-7/", true},
		{"/a%20b", true},
		{"/caf%C3%A9", true},
		{"/café", true},
		{"/a//b", true},
		{"/a:b", true},
		{"/~user/x.y", true},
		{"/a+b", true},
		{"/a%25", true},

		{"", false},
		{"chat", false},
		{"//evil.example", false},
		{"//evil.example/x", false},
		{"///x", false},
		{"http://evil.example/", false},
		{"ws://evil.example/", false},
		{"evil.example:80/x", false},
		{"@evil.example", false},
		{"/x@evil.example", false},
		{"/@evil", false},
		{"\\\\evil", false},
		{"/\\evil", false},
		{"/%5cevil", false},
		{"/%5Cevil", false},
		{"/%2f%2fevil", false},
		{"/a%2Fb", false},
		{"/../etc", false},
		{"/a/%2e%2e/b", false},
		{"/a/./b", false},
		{"/a\x00b", false},
		{"/a\rb", false},
		{"/a\nHost: evil", false},
		{"/a\tb", false},
		{"/a\x7fb", false},
		{"/a%00b", false},
		{"/a%0d%0aX: y", false},
		{"/a%7F", false},
		{"/a%", false},
		{"/a%2", false},
		{"/a%zz", false},
		{"/a?x=1", false},
		{"/a#frag", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := validWSPath([]byte(tt.path)); got != tt.ok {
				t.Fatalf("validWSPath(%q) = %v, want %v", tt.path, got, tt.ok)
			}
		})
	}
}

func TestAppendWSTarget(t *testing.T) {
	tests := []struct {
		base, path, query, want string
	}{
		{"http://10.0.0.1:8080", "/", "", "ws://10.0.0.1:8080/"},
		{"https://api.example", "/chat", "a=1", "wss://api.example/chat?a=1"},
		{"http://h:1/base/v1", "/ws", "", "ws://h:1/base/v1/ws"},
		{"http://[::1]:9000/p%20q", "/x%2Ay", "", "ws://[::1]:9000/p%20q/x%2Ay"},
		{"http://h", "/a b/café/{x}|\"<>^`", "", "ws://h/a%20b/caf%C3%A9/%7Bx%7D%7C%22%3C%3E%5E%60"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			base, err := url.Parse(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			got := string(appendWSTarget(nil, base, base.EscapedPath(), []byte(tt.path), []byte(tt.query)))
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendForwardedQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"path=/x", ""},
		{"a=1&path=/x&b=2", "a=1&b=2"},
		{"access_token=t&a=1", "a=1"},
		{"p%61th=//evil&a=%2F", "a=%2F"},
		{"access%5Ftoken=t", ""},
		{"a&&b=", "a&b="},
		{"pathx=1&xpath=2&path", "pathx=1&xpath=2"},
		{"a=b=c&path=1=2", "a=b=c"},
		{"q=hello+world&path=/p", "q=hello+world"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(appendForwardedQuery(nil, []byte(tt.in))); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzWSPath checks that no path parameter the gateway accepts can move
// the bridge off its upstream: the URL the dialer parses keeps the
// upstream's scheme, host and base path, and its request line carries no
// control characters.
func FuzzWSPath(f *testing.F) {
	for _, s := range []string{"/", "/chat", "//evil", "http://x", "/\\x", "/@x", "/a%2f", "/%2e%2e/", "/a\r\n",
		"/%0a", "/a?b", "/a#b", "/x:y@z", "/ä", "/%", "/%%32%66", "/%40", "/%40 ", "/a b", "/é"} {
		f.Add(s, "a=1")
	}
	base, _ := url.Parse("http://upstream.internal:8080/base")
	f.Fuzz(func(t *testing.T, path, query string) {
		q := appendForwardedQuery(nil, []byte(query))
		if !validWSPath([]byte(path)) || !validWSQuery(q) {
			return
		}
		target := string(appendWSTarget(nil, base, base.EscapedPath(), []byte(path), q))
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("accepted path %q gives an unparsable URL %q: %v", path, target, err)
		}
		if u.Scheme != "ws" || u.Host != "upstream.internal:8080" || u.User != nil || u.Fragment != "" {
			t.Fatalf("accepted path %q moves the bridge to %q (scheme %q host %q)", path, target, u.Scheme, u.Host)
		}
		reqURI := u.RequestURI()
		if !strings.HasPrefix(reqURI, "/base/") || strings.HasPrefix(reqURI, "//") {
			t.Fatalf("accepted path %q gives request URI %q outside /base/", path, reqURI)
		}
		for i := 0; i < len(reqURI); i++ {
			if reqURI[i] <= ' ' || reqURI[i] == 0x7f {
				t.Fatalf("accepted path %q puts byte %#x in the request line %q", path, reqURI[i], reqURI)
			}
		}
		if u.RawQuery != string(q) {
			t.Fatalf("query %q became %q", q, u.RawQuery)
		}
		if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") || strings.Contains(u.Path, "\\") {
			t.Fatalf("accepted path %q climbs out of the base path: %q", path, u.Path)
		}
		if wantPath, _, _ := strings.Cut(strings.TrimPrefix(target, "ws://upstream.internal:8080"), "?"); u.EscapedPath() != wantPath ||
			strings.Contains(wantPath, "@") {
			t.Fatalf("accepted path %q: request path %q, want exactly %q, without @", path, u.EscapedPath(), wantPath)
		}
	})
}
