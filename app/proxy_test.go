package app_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// seen is what an echo upstream records of one request.
type seen struct {
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
	BodySum string      `json:"bodySum"`
	BodyLen int64       `json:"bodyLen"`
	Name    string      `json:"name"`
}

// echoUpstream starts a loopback upstream that answers with what it saw.
func echoUpstream(t *testing.T, name string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", name)
		_ = json.NewEncoder(w).Encode(seen{
			Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header,
			BodySum: fmt.Sprintf("%x", h.Sum(nil)), BodyLen: n, Name: name,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func decodeSeen(t *testing.T, resp *http.Response) seen {
	t.Helper()
	defer resp.Body.Close()
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("decoding upstream echo: %v", err)
	}
	return s
}

func TestProxyMethodsAndPathMapping(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{
		"users":    {up.URL},
		"prefixed": {up.URL + "/base/v2"},
	}))
	tests := []struct {
		method, path, wantURI string
	}{
		{"GET", "/api/users/v1/me?x=1", "/v1/me?x=1"},
		{"GET", "/api/users", "/"},
		{"GET", "/api/users/", "/"},
		{"POST", "/api/users/items", "/items"},
		{"PUT", "/api/users/items/7", "/items/7"},
		{"PATCH", "/api/users/items/7?a=b&c=%20d", "/items/7?a=b&c=%20d"},
		{"DELETE", "/api/users/items/7", "/items/7"},
		{"OPTIONS", "/api/users/items", "/items"},
		{"GET", "/api/prefixed/x/y?q", "/base/v2/x/y?q"},
		{"GET", "/api/users//evil.example/x", "//evil.example/x"},
		{"GET", "/api/users/a%20b/%E2%9C%93", "/a%20b/%E2%9C%93"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, gw.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			s := decodeSeen(t, resp)
			if s.Method != tt.method || s.URI != tt.wantURI {
				t.Fatalf("upstream saw %s %s, want %s %s", s.Method, s.URI, tt.method, tt.wantURI)
			}
			if want := strings.TrimPrefix(up.URL, "http://"); s.Host != want {
				t.Errorf("upstream Host = %q, want its own %q", s.Host, want)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no x-request-id on response")
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		resp, err := http.Head(gw.URL + "/api/users/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "a" {
			t.Fatalf("HEAD: status %d, X-Upstream %q", resp.StatusCode, resp.Header.Get("X-Upstream"))
		}
	})
}

func TestProxyBodiesByteExact(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	// A download upstream that sends n bytes of a known pattern, chunked
	// when asked.
	dl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 50 << 20
		if r.URL.Query().Get("small") != "" {
			n = 1000
		}
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		_, _ = io.Copy(w, io.LimitReader(&pattern{}, int64(n)))
	}))
	t.Cleanup(dl.Close)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"echo": {up.URL}, "dl": {dl.URL}}))

	uploads := []struct {
		name    string
		size    int64
		chunked bool
	}{
		{"small", 1000, false},
		{"50MiB", 50 << 20, false},
		{"chunked 3MiB", 3 << 20, true},
	}
	for _, tt := range uploads {
		t.Run("upload "+tt.name, func(t *testing.T) {
			var body io.Reader = io.LimitReader(&pattern{}, tt.size)
			if tt.chunked {
				body = struct{ io.Reader }{body} // hide the length: chunked
			}
			req, _ := http.NewRequest("POST", gw.URL+"/api/echo/up", body)
			if !tt.chunked {
				req.ContentLength = tt.size
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			s := decodeSeen(t, resp)
			h := sha256.New()
			_, _ = io.Copy(h, io.LimitReader(&pattern{}, tt.size))
			if s.BodyLen != tt.size || s.BodySum != fmt.Sprintf("%x", h.Sum(nil)) {
				t.Fatalf("upstream got %d bytes sum %s; sent %d", s.BodyLen, s.BodySum, tt.size)
			}
		})
	}
	for _, q := range []string{"small=1", "", "chunked=1"} {
		t.Run("download "+q, func(t *testing.T) {
			resp, err := http.Get(gw.URL + "/api/dl/file?" + q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := sha256.New()
			n, err := io.Copy(got, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.New()
			_, _ = io.Copy(want, io.LimitReader(&pattern{}, n))
			wantN := int64(50 << 20)
			if q == "small=1" {
				wantN = 1000
			}
			if n != wantN || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Fatalf("got %d bytes, want %d byte-exact", n, wantN)
			}
		})
	}
}

// pattern is an endless reader of a fixed non-trivial byte sequence,
// the same whatever the sizes of the reads.
type pattern struct{ off int64 }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		o := r.off + int64(i)
		p[i] = byte(o*7 + o>>9)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// rawRequest sends raw bytes to addr and returns the parsed response.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp
}

// A body that trickles in for longer than HTTP_PROXY_TIMEOUT_MS, with gaps
// shorter than it, is not cut: the timeout bounds silence, not length.
func TestSlowDownloadLongerThanProxyTimeout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000")
		for i := 0; i < 10; i++ {
			_, _ = w.Write(bytes.Repeat([]byte{'x'}, 1000))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond) // the upstream's pace, not a test wait
		}
	}))
	t.Cleanup(up.Close)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.ProxyTimeout = 400 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)
	resp, err := http.Get(gw.URL + "/api/s/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != 10000 {
		t.Fatalf("read %d bytes, err %v; want all 10000 over ~1s with a 400ms proxy timeout", n, err)
	}
}

// slowReader yields n chunks of size bytes, pausing between them.
type slowReader struct {
	chunks, size int
	pause        time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.chunks == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause) // the client's pace, not a test wait
	r.chunks--
	n := min(r.size, len(p))
	for i := range p[:n] {
		p[i] = 'u'
	}
	return n, nil
}

// An upload that trickles for longer than HTTP_PROXY_TIMEOUT_MS, with gaps
// shorter than it, reaches the upstream whole.
func TestSlowUploadLongerThanProxyTimeout(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.ProxyTimeout = 400 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)
	req, _ := http.NewRequest("POST", gw.URL+"/api/s/up", &slowReader{chunks: 20, size: 1000, pause: 100 * time.Millisecond})
	req.ContentLength = 20000 // beyond the 8 KiB fasthttp reads before the handler
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if s := decodeSeen(t, resp); s.BodyLen != 20000 {
		t.Fatalf("upstream got %d bytes, want 20000", s.BodyLen)
	}
}
