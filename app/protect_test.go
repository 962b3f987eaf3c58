package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/internal/gatewaytest"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

func hs256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func httpGet(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestAuthThroughTheGateway(t *testing.T) {
	up, hits := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.AuthRequired = true
	cfg.JWTSecret = testSecret
	cfg.JWTForwardSubject = true
	gw := gatewaytest.Start(t, cfg)

	good := hs256(t, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"no token", "/api/s/x", "", 401},
		{"bad token", "/api/s/x", "Bearer nope", 401},
		{"good token", "/api/s/x", "Bearer " + good, 200},
		{"admin needs a token", "/admin/stats", "", 401},
		{"admin with token", "/admin/stats", "Bearer " + good, 200},
		{"admin query token", "/admin/stats?access_token=" + good, "", 200},
		{"health stays open", "/healthz", "", 200},
		{"readiness stays open", "/readyz", "", 200},
		{"metrics stay open", "/metrics", "", 200},
		{"pressure stays open", "/_pressure", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"X-Auth-Subject": "mallory"}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			resp := httpGet(t, gw.URL+tt.path, h)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 401 {
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
				}
				readError(t, resp)
				return
			}
			if tt.path == "/api/s/x" {
				if s := decodeSeen(t, resp); s.Header.Get("X-Auth-Subject") != "alice" {
					t.Errorf("upstream X-Auth-Subject = %q, want the token's alice, not the client's", s.Header.Get("X-Auth-Subject"))
				}
				return
			}
			resp.Body.Close()
		})
	}
	if hits.Load() != 1 {
		t.Fatalf("upstream got %d requests; only the authenticated one may pass", hits.Load())
	}
}

func TestRateLimitThroughTheGateway(t *testing.T) {
	up, hits := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.RateLimitMax = 5
	cfg.RateLimitWindow = time.Hour
	gw := gatewaytest.Start(t, cfg)
	codes := map[int]int{}
	for i := 0; i < 8; i++ {
		resp := httpGet(t, gw.URL+"/api/s/x", nil)
		codes[resp.StatusCode]++
		if resp.Header.Get("RateLimit-Limit") != "5" {
			t.Errorf("RateLimit-Limit = %q", resp.Header.Get("RateLimit-Limit"))
		}
		if resp.StatusCode == 429 {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			readError(t, resp)
			continue
		}
		resp.Body.Close()
	}
	if codes[200] != 5 || codes[429] != 3 || hits.Load() != 5 {
		t.Fatalf("statuses %v, upstream hits %d; want 5×200 then 3×429", codes, hits.Load())
	}
	// Exempt routes are not limited.
	for i := 0; i < 3; i++ {
		if resp := httpGet(t, gw.URL+"/healthz", nil); resp.StatusCode != 200 {
			t.Fatalf("/healthz limited: %d", resp.StatusCode)
		}
	}
}

func TestCacheThroughTheGateway(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "cached body")
	}))
	t.Cleanup(up.Close)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.CacheEnabled = true
	gw := gatewaytest.Start(t, cfg)

	// A thundering herd on one cold key reaches the upstream once.
	const herd = 100
	var wg sync.WaitGroup
	bodies := make(chan string, herd)
	for i := 0; i < herd; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(gw.URL + "/api/s/item?id=1")
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies <- string(b)
		}()
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return hits.Load() >= 1 }, "the first miss to reach the upstream")
	close(release)
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if b != "cached body" {
			t.Fatalf("herd member got %q", b)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("a herd of %d reached the upstream %d times, want 1", herd, n)
	}
	resp := httpGet(t, gw.URL+"/api/s/item?id=1", map[string]string{"X-Request-Id": "own-id"})
	resp.Body.Close()
	if resp.Header.Get("X-Cache") != "HIT" || resp.Header.Get("X-Request-Id") != "own-id" {
		t.Fatalf("X-Cache %q, X-Request-Id %q; want HIT with the request's own id", resp.Header.Get("X-Cache"), resp.Header.Get("X-Request-Id"))
	}
}

func TestLoadSheddingThroughTheGateway(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
	}))
	t.Cleanup(up.Close)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.MaxInflightRequests = 2
	gw := gatewaytest.Start(t, cfg)

	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(gw.URL + "/api/s/slow")
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return arrived.Load() == 2 }, "two slow requests in flight")
	resp := httpGet(t, gw.URL+"/api/s/more", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the in-flight limit: status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	readError(t, resp)
	if r := httpGet(t, gw.URL+"/readyz", nil); r.StatusCode != 503 {
		t.Fatalf("/readyz while overloaded: %d", r.StatusCode)
	}
	if r := httpGet(t, gw.URL+"/healthz", nil); r.StatusCode != 200 {
		t.Fatalf("/healthz while overloaded: %d", r.StatusCode)
	}
	p := httpGet(t, gw.URL+"/_pressure", nil)
	var report map[string]any
	if err := json.NewDecoder(p.Body).Decode(&report); err != nil || len(report) == 0 {
		t.Fatalf("/_pressure: %v %v", report, err)
	}
	p.Body.Close()
	close(release)
	wg.Wait()
	if arrived.Load() != 2 {
		t.Fatalf("the shed request reached the upstream")
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		r := httpGet(t, gw.URL+"/readyz", nil)
		r.Body.Close()
		return r.StatusCode == 200
	}, "/readyz to recover")
}
